"""rindle: durable direct-to-storage uploads whose lifecycle lives in your SQL database."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:
    from ._broker import Broker, JobMode
    from ._errors import (
        AssetNotAvailable,
        AssetNotFound,
        ConfigurationError,
        DatabaseError,
        InvalidArgument,
        InvalidParts,
        InvalidProfile,
        InvalidTransition,
        PolicyViolation,
        RindleError,
        SessionExpired,
        SessionNotFound,
        StorageConflict,
        StorageError,
        StorageNotFound,
        StorageObjectMissing,
        StorageUnavailable,
        TransferFailed,
        UnknownProfile,
        UnknownStorage,
        UploadUnsupported,
    )
    from ._flows.asset_lifecycle import AssetSweepReport
    from ._flows.prune import PruneReport
    from .db import Database
    from .jobs import JobOutcome, JobRunner, PermanentJobError
    from .models import (
        Asset,
        Job,
        MaintenanceReport,
        MultipartResult,
        MultipartStatusResult,
        ResumableResult,
        ResumableStatusResult,
        SignBatchResult,
        SignPostResult,
        SignResult,
        UploadSession,
        VerifyResult,
    )
    from .plugins import hookimpl
    from .profiles import Profile
    from .states import AssetState, JobState, SessionState, transition
    from .storage import (
        Capability,
        HeadResult,
        MultipartUpload,
        PartLimits,
        PresignedPost,
        PresignedRequest,
        ResumableStatus,
        ResumableUpload,
        StorageAdapter,
        UploadedPart,
    )

# A library logs, the host decides what is shown: without this handler the
# stdlib's last-resort handler would print rindle's warnings to stderr.
logging.getLogger("rindle").addHandler(logging.NullHandler())

__all__ = [
    "Asset",
    "AssetNotAvailable",
    "AssetNotFound",
    "AssetState",
    "AssetSweepReport",
    "Broker",
    "Capability",
    "ConfigurationError",
    "Database",
    "DatabaseError",
    "HeadResult",
    "InvalidArgument",
    "InvalidParts",
    "InvalidProfile",
    "InvalidTransition",
    "Job",
    "JobMode",
    "JobOutcome",
    "JobRunner",
    "JobState",
    "MaintenanceReport",
    "MultipartResult",
    "MultipartStatusResult",
    "MultipartUpload",
    "PartLimits",
    "PermanentJobError",
    "PolicyViolation",
    "PresignedPost",
    "PresignedRequest",
    "Profile",
    "PruneReport",
    "ResumableResult",
    "ResumableStatus",
    "ResumableStatusResult",
    "ResumableUpload",
    "RindleError",
    "SessionExpired",
    "SessionNotFound",
    "SessionState",
    "SignBatchResult",
    "SignPostResult",
    "SignResult",
    "StorageAdapter",
    "StorageConflict",
    "StorageError",
    "StorageNotFound",
    "StorageObjectMissing",
    "StorageUnavailable",
    "TransferFailed",
    "UnknownProfile",
    "UnknownStorage",
    "UploadSession",
    "UploadUnsupported",
    "UploadedPart",
    "VerifyResult",
    "hookimpl",
    "transition",
]


#: Names merged into one type per concept: they still work, deprecated, for one release.
_DEPRECATED = {
    "MultipartInfo": "MultipartUpload",
    "MultipartInit": "MultipartUpload",
    "ResumableInfo": "ResumableUpload",
    "ResumableInit": "ResumableUpload",
}


#: Where each public name lives. They are imported on first use, so that
#: ``import rindle_core`` (and ``rindle --version``) loads no SQLAlchemy.
_LAZY: dict[str, str] = {
    "Broker": "._broker",
    "JobMode": "._broker",
    "AssetNotAvailable": "._errors",
    "AssetNotFound": "._errors",
    "ConfigurationError": "._errors",
    "DatabaseError": "._errors",
    "InvalidArgument": "._errors",
    "InvalidParts": "._errors",
    "InvalidProfile": "._errors",
    "InvalidTransition": "._errors",
    "PolicyViolation": "._errors",
    "RindleError": "._errors",
    "SessionExpired": "._errors",
    "SessionNotFound": "._errors",
    "StorageConflict": "._errors",
    "StorageError": "._errors",
    "StorageNotFound": "._errors",
    "StorageObjectMissing": "._errors",
    "StorageUnavailable": "._errors",
    "TransferFailed": "._errors",
    "UnknownProfile": "._errors",
    "UnknownStorage": "._errors",
    "UploadUnsupported": "._errors",
    "AssetSweepReport": "._flows.asset_lifecycle",
    "PruneReport": "._flows.prune",
    "Database": ".db",
    "JobOutcome": ".jobs",
    "JobRunner": ".jobs",
    "PermanentJobError": ".jobs",
    "Asset": ".models",
    "Job": ".models",
    "MaintenanceReport": ".models",
    "MultipartResult": ".models",
    "MultipartStatusResult": ".models",
    "ResumableResult": ".models",
    "ResumableStatusResult": ".models",
    "SignBatchResult": ".models",
    "SignPostResult": ".models",
    "SignResult": ".models",
    "UploadSession": ".models",
    "VerifyResult": ".models",
    "hookimpl": ".plugins",
    "Profile": ".profiles",
    "AssetState": ".states",
    "JobState": ".states",
    "SessionState": ".states",
    "transition": ".states",
    "Capability": ".storage",
    "HeadResult": ".storage",
    "MultipartUpload": ".storage",
    "PartLimits": ".storage",
    "PresignedPost": ".storage",
    "PresignedRequest": ".storage",
    "ResumableStatus": ".storage",
    "ResumableUpload": ".storage",
    "StorageAdapter": ".storage",
    "UploadedPart": ".storage",
}


_lazy_getattr, __dir__ = lazy_exports(__name__, _LAZY, __all__)


def __getattr__(name: str) -> object:
    if name not in _DEPRECATED:
        return _lazy_getattr(name)
    import warnings

    warnings.warn(
        f"rindle_core.{name} is deprecated: use rindle_core.{_DEPRECATED[name]}",
        DeprecationWarning,
        stacklevel=2,
    )
    return __getattr__(_DEPRECATED[name])
