"""Hook specifications for rindle plugins (project name ``rindle``).

Plugins implement these with :data:`rindle_core.hookimpl` and are found
through the ``rindle`` entry-point group::

    [project.entry-points.rindle]
    s3 = "rindle_s3"

Observer hooks are called **after** the database transaction that made the
change has committed, by pluggy itself (``pm.hook.<name>(...)``): hook
wrappers (``wrapper=True``) and ``pm.add_hookcall_monitoring`` see every
call. Each plain implementation is isolated first: its exception is logged
(``rindle.observer.failed`` on the ``rindle.telemetry`` logger), never
propagated into the upload path, and never keeps the other observers from
being called. The operation hooks are called the same way, around each
broker operation and job run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from ._operations import Operation
    from .models import Asset, Job, MaintenanceReport, UploadSession
    from .storage import HeadResult, StorageFactory

__all__ = [
    "hookspec",
    "rindle_asset_transitioned",
    "rindle_dispatch_job",
    "rindle_inspect_upload",
    "rindle_maintenance_run",
    "rindle_operation_finished",
    "rindle_operation_started",
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

    Called after the transaction that inserted the job commits, each
    implementation on its own: one that raises is logged
    (``rindle.dispatch.failed``) and never keeps the others from being
    called. The queue's worker should call
    :meth:`rindle_core.JobRunner.run_job` with ``job.id``; running a job
    twice is harmless. :mod:`rindle_core.relays` ships relays for Celery,
    Dramatiq, RQ, procrastinate and arq, and the sweep that hands over again
    the jobs an engine lost (``rindle relay sweep``).
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


# -----------------------------------------------------------------------------
# Operations (around each broker call and job run)
# -----------------------------------------------------------------------------


@hookspec
def rindle_operation_started(operation: Operation) -> None:
    """A broker operation (``operation.name``: ``sign_url``…) or a job run (``job.run``) starts.

    Called in the caller's thread before the operation does anything, so a
    tracing plugin can make the operation's span current for what it calls.
    ``operation.attributes`` holds what is known so far (``session_id``,
    ``profile`` or ``asset_id``; a job's ``job_id``, ``kind``, ``attempt``).
    """


@hookspec
def rindle_operation_finished(operation: Operation) -> None:
    """The operation started with the same :class:`~rindle_core.observability.Operation` ended.

    Always called, on success and on error: ``outcome`` (``"ok"``,
    ``"error"``; a job run's ``"succeeded"``, ``"retry"``, ``"failed"`` or
    ``"lost"``), ``error`` (an exception's class name), ``duration`` (seconds)
    and the attributes its result added (ids, profile, strategy, states).
    Never a URL, signature, token or session URI.
    """
