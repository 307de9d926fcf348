"""rindle's exception hierarchy: one root, small families, one-line docstrings.

Messages never carry secrets: no signatures, tokens, session URIs or
credentials. Adapters translate their SDK's exceptions into these types (see
:func:`rindle_core.storage.map_exceptions` for the pattern).
"""

from __future__ import annotations

__all__ = [
    "AssetNotAvailable",
    "AssetNotFound",
    "ConfigurationError",
    "DatabaseError",
    "InvalidArgument",
    "InvalidParts",
    "InvalidProfile",
    "InvalidTransition",
    "PolicyViolation",
    "RindleError",
    "SessionExpired",
    "SessionNotFound",
    "StorageConflict",
    "StorageError",
    "StorageNotFound",
    "StorageObjectMissing",
    "StorageUnavailable",
    "TransferFailed",
    "UnknownProfile",
    "UnknownStorage",
    "UploadUnsupported",
]


class RindleError(Exception):
    """Base class of every error rindle raises on purpose."""


# --- configuration -----------------------------------------------------------


class ConfigurationError(RindleError):
    """The configuration is invalid; raised at start-up, not at first use."""


class InvalidProfile(ConfigurationError):
    """A profile's settings are inconsistent or out of range."""


class UnknownProfile(RindleError):
    """No profile is registered under this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown profile {name!r}")
        self.name = name


class UnknownStorage(ConfigurationError):
    """No storage backend type (or configured storage) has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown storage {name!r}")
        self.name = name


# --- caller mistakes ---------------------------------------------------------


class InvalidArgument(RindleError, ValueError):
    """An argument is malformed (bad id, negative size, bad part number…)."""


class InvalidParts(InvalidArgument):
    """A multipart part list is empty, duplicated, incomplete or lacks ETags.

    ``missing`` names the part numbers the declared size still needs.
    """

    def __init__(self, message: str, *, missing: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


class PolicyViolation(RindleError):
    """The upload breaks the profile's policy (type, extension or size)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# --- lifecycle ---------------------------------------------------------------


class SessionNotFound(RindleError):
    """No upload session has this id."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"upload session {session_id!r} not found")
        self.session_id = session_id


class AssetNotFound(RindleError):
    """No asset has this id."""

    def __init__(self, asset_id: str) -> None:
        super().__init__(f"asset {asset_id!r} not found")
        self.asset_id = asset_id


class AssetNotAvailable(RindleError):
    """The asset is not ``available``: it cannot be downloaded (yet, or any more)."""

    def __init__(self, asset_id: str, state: str) -> None:
        super().__init__(f"asset {asset_id!r} is {state}, not available")
        self.asset_id = asset_id
        self.state = state


class InvalidTransition(RindleError):
    """The state machine forbids this move from the current state."""

    def __init__(self, from_state: str, to_state: str, *, machine: str = "session") -> None:
        super().__init__(f"invalid {machine} transition {from_state!r} -> {to_state!r}")
        self.from_state = from_state
        self.to_state = to_state
        self.machine = machine


class SessionExpired(RindleError):
    """The session is past its ``expires_at`` and can no longer be used."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"upload session {session_id!r} has expired")
        self.session_id = session_id


class UploadUnsupported(RindleError):
    """The storage backend lacks the capability this call needs."""

    def __init__(self, capability: object, *, storage: str = "") -> None:
        name = getattr(capability, "value", capability)
        where = f" by storage {storage!r}" if storage else ""
        super().__init__(f"capability {name!s} is not supported{where}")
        self.capability = capability
        self.storage = storage


class StorageObjectMissing(RindleError):
    """The uploaded object is not in storage; the session is unchanged."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no object stored under the session's key {key!r}")
        self.key = key


# --- storage -----------------------------------------------------------------


class StorageError(RindleError):
    """A storage backend call failed."""


class StorageNotFound(StorageError):
    """The object or remote upload does not exist (cleanup treats this as done)."""


class StorageUnavailable(StorageError):
    """A transient storage failure (timeout, throttling, 5xx); retry later."""


class StorageConflict(StorageError):
    """A create-only write found an object, or a read bound to a version found another."""


# --- database ----------------------------------------------------------------


class DatabaseError(RindleError):
    """The database refused or failed a statement; the SQLAlchemy error is the ``__cause__``."""


# --- client-side transfers ---------------------------------------------------


class TransferFailed(RindleError):
    """Sending bytes to a presigned URL or session URI failed."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
