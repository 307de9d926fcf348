"""Hook specifications for rindle plugins (project name ``rindle``).

Plugins implement these with :data:`rindle_core.hookimpl` and are found
through the ``rindle`` entry-point group::

    [project.entry-points.rindle]
    s3 = "rindle_s3"

Observer hooks are called **after** the database transaction that made the
change has committed. Each implementation is called on its own: an
observer's exception is logged, never propagated into the upload path, and
never keeps the other observers from being called (so observers are plain
hook implementations; ``wrapper``/``hookwrapper`` do not apply to them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .models import Asset, Job, MaintenanceReport, UploadSession
    from .storage import HeadResult, StorageFactory

__all__ = [
    "hookspec",
    "rindle_asset_transitioned",
    "rindle_dispatch_job",
    "rindle_inspect_upload",
    "rindle_maintenance_run",
    "rindle_register_storage",
    "rindle_session_transitioned",
    "rindle_upload_started",
    "rindle_upload_stopped",
]

hookspec = pluggy.HookspecMarker("rindle")

# -----------------------------------------------------------------------------
# Storage backends
# -----------------------------------------------------------------------------


@hookspec
def rindle_register_storage(register: Callable[[str, StorageFactory], None]) -> None:
    """Register storage backend factories by type name.

    Call ``register("s3", create_storage)`` for each backend type the plugin
    provides, where ``create_storage(options, /, *, base_dir)`` builds a
    :class:`~rindle_core.storage.StorageAdapter` from the options of one
    configured storage; read them with :class:`rindle_core.plugins.Options`
    (unknown keys refused with a did-you-mean, paths resolved against
    *base_dir*, the configuration file's directory). Registering a name twice
    is an error. A factory without a keyword-only ``base_dir`` is still
    called as ``factory(**options)``, with a ``DeprecationWarning``.
    """


# -----------------------------------------------------------------------------
# Promotion
# -----------------------------------------------------------------------------


@hookspec
def rindle_inspect_upload(asset: Asset, head: HeadResult, sample: bytes) -> str | None:
    """Inspect an upload during promotion; return a reason to quarantine it.

    ``sample`` holds the object's first bytes (a ranged read, never the whole
    object). Return ``None`` to accept. Every implementation is called; any
    non-``None`` result quarantines the asset with that reason. Raise
    :class:`~rindle_core.StorageUnavailable` to have the job retried.
    """


# -----------------------------------------------------------------------------
# Jobs
# -----------------------------------------------------------------------------


@hookspec
def rindle_dispatch_job(job: Job) -> None:
    """Hand a committed job to an external queue (Celery, Dramatiq…).

    Called after the transaction that inserted the job commits. The queue's
    worker should call :meth:`rindle_core.JobRunner.run_job` with ``job.id``;
    running a job twice is harmless.
    """


# -----------------------------------------------------------------------------
# Lifecycle observers (after commit)
# -----------------------------------------------------------------------------


@hookspec
def rindle_session_transitioned(session: UploadSession, from_state: str, to_state: str) -> None:
    """An upload session moved from ``from_state`` to ``to_state``."""


@hookspec
def rindle_asset_transitioned(asset: Asset, from_state: str, to_state: str) -> None:
    """An asset moved from ``from_state`` to ``to_state``."""


@hookspec
def rindle_upload_started(session: UploadSession) -> None:
    """A new upload session was created."""


@hookspec
def rindle_upload_stopped(session: UploadSession, asset: Asset) -> None:
    """An upload session completed and its asset was handed to promotion."""


@hookspec
def rindle_maintenance_run(report: MaintenanceReport) -> None:
    """A maintenance pass finished."""
