"""Telemetry: log events and observer hooks, emitted after commit; operations.

Code that changes state collects :class:`Event` objects while its
transaction is open and hands them to :meth:`Telemetry.emit` once it has
committed; a rolled-back transaction therefore emits nothing. Events carry
ids, states and names only: never URLs, tokens or session URIs.

Events go to the standard :mod:`logging` module under ``rindle.*`` loggers,
so a host app sees them only if it configures logging. Each record's message
is ``<event> key=value ...``; the record also carries ``rindle_event`` (the
event name) and ``rindle_fields`` (a dict) for structured handlers.

Observer hooks are called through pluggy (``pm.hook.<name>(...)``) with each
plain implementation isolated (:mod:`._isolation`). :meth:`Telemetry.operation`
reports a broker operation or a job run to the ``rindle_operation_started``
and ``rindle_operation_finished`` hooks (:mod:`._operations`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs
import pluggy

from ._isolation import isolate
from ._operations import Attribute, Operation
from .models import Asset, MaintenanceReport, UploadSession

__all__ = [
    "Event",
    "Telemetry",
    "asset_event",
    "asset_log_event",
    "log_event",
    "maintenance_event",
    "session_event",
    "session_log_event",
    "upload_start_event",
    "upload_stop_event",
]

logger = logging.getLogger("rindle.telemetry")


def log_event(log: logging.Logger, level: int, name: str, **fields: Any) -> None:
    """Log event *name* with *fields* (ids, states, names: never secrets) on *log*."""
    if not log.isEnabledFor(level):
        return
    pairs = " ".join(f"{key}={value}" for key, value in fields.items())
    log.log(
        level,
        "%s %s" if pairs else "%s",
        *((name, pairs) if pairs else (name,)),
        extra={"rindle_event": name, "rindle_fields": dict(fields)},
    )


@attrs.frozen
class Event:
    """One event: a log record plus, optionally, an observer hook call."""

    name: str
    fields: Mapping[str, Any]
    hook: str | None = None
    hook_kwargs: Mapping[str, Any] = attrs.field(factory=dict)


def session_log_event(
    session_id: str, asset_id: str, profile: str, strategy: str, from_state: str, to_state: str
) -> Event:
    """``rindle.session.transition`` as a log record only (no observer listens)."""
    return Event(
        "rindle.session.transition",
        {
            "session_id": session_id,
            "asset_id": asset_id,
            "profile": profile,
            "strategy": strategy,
            "from_state": from_state,
            "to_state": to_state,
        },
    )


def session_event(session: UploadSession, from_state: str, to_state: str) -> Event:
    """``rindle.session.transition`` for *session*."""
    record = session_log_event(
        session.id, session.asset_id, session.profile, session.upload_strategy, from_state, to_state
    )
    return Event(
        record.name,
        record.fields,
        "rindle_session_transitioned",
        {"session": session, "from_state": from_state, "to_state": to_state},
    )


def asset_log_event(
    asset_id: str, profile: str, reason: str | None, from_state: str, to_state: str
) -> Event:
    """``rindle.asset.transition`` as a log record only (no observer listens)."""
    fields: dict[str, Any] = {
        "asset_id": asset_id,
        "profile": profile,
        "from_state": from_state,
        "to_state": to_state,
    }
    if reason:
        fields["reason"] = reason
    return Event("rindle.asset.transition", fields)


def asset_event(asset: Asset, from_state: str, to_state: str) -> Event:
    """``rindle.asset.transition`` for *asset*."""
    record = asset_log_event(asset.id, asset.profile, asset.quarantine_reason, from_state, to_state)
    return Event(
        record.name,
        record.fields,
        "rindle_asset_transitioned",
        {"asset": asset, "from_state": from_state, "to_state": to_state},
    )


def upload_start_event(session: UploadSession) -> Event:
    """``rindle.upload.start``."""
    return Event(
        "rindle.upload.start",
        {
            "session_id": session.id,
            "asset_id": session.asset_id,
            "profile": session.profile,
            "storage": session.storage,
            "strategy": session.upload_strategy,
        },
        "rindle_upload_started",
        {"session": session},
    )


def upload_stop_event(session: UploadSession, asset: Asset) -> Event:
    """``rindle.upload.stop``."""
    return Event(
        "rindle.upload.stop",
        {
            "session_id": session.id,
            "asset_id": asset.id,
            "profile": session.profile,
            "storage": session.storage,
            "strategy": session.upload_strategy,
            "byte_size": asset.byte_size,
        },
        "rindle_upload_stopped",
        {"session": session, "asset": asset},
    )


def maintenance_event(report: MaintenanceReport) -> Event:
    """``rindle.maintenance.run``."""
    return Event(
        "rindle.maintenance.run",
        {
            "dry_run": report.dry_run,
            "expired": len(report.expired_session_ids),
            "remote_aborted": report.remote_aborted,
            "objects_deleted": report.objects_deleted,
            "cleanup_failures": report.cleanup_failures,
            "cleanups_finished": report.cleanups_finished,
            "final_sweeps_scheduled": report.final_sweeps_scheduled,
            "expiry_failures": report.expiry_failures,
            "cleanup_pending": report.cleanup_pending,
        },
        "rindle_maintenance_run",
        {"report": report},
    )


class Telemetry:
    """Emits events to the ``rindle.telemetry`` logger and to the observer hooks.

    Hooks are called by pluggy itself (``pm.hook.<name>(...)``), so hook
    wrappers and ``pm.add_hookcall_monitoring`` see every call; each plain
    implementation is shielded first (:mod:`._isolation`), so a failing
    observer is logged as ``rindle.observer.failed`` and neither silences
    the others nor reaches the upload path.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The plugin manager whose hooks are called."""
        return self._pm

    def emit(self, events: Iterable[Event]) -> None:
        """Emit *events* in order; an observer's failure is logged, not raised."""
        for event in events:
            log_event(logger, logging.INFO, event.name, **event.fields)
            if event.hook is not None:
                self.call(event.hook, event.hook_kwargs)

    def call(self, hook_name: str, kwargs: Mapping[str, Any]) -> None:
        """Call observer hook *hook_name* through pluggy, its implementations isolated."""
        hook: pluggy.HookCaller | None = getattr(self._pm.hook, hook_name, None)
        if hook is None:  # a plugin manager without this (newer) hookspec
            return
        isolate(hook, _observer_failed)
        try:
            hook(**kwargs)
        except Exception as exc:  # a wrapper's own failure: wrappers are not shielded
            _observer_failed(hook_name, "(hook wrapper)", exc)

    def listening(self, *hook_names: str) -> bool:
        """Whether calling any of *hook_names* would reach anyone: an
        implementation (observer or wrapper) or hook-call monitoring.

        Callers that would build costly hook arguments (snapshots) for every
        row build them only then; the log records do not depend on it.
        """
        if _monitored(self._pm):
            return True
        return any(
            hook is not None and hook.get_hookimpls()
            for hook in (getattr(self._pm.hook, name, None) for name in hook_names)
        )

    def logging(self) -> bool:
        """Whether the events' log records go anywhere (``rindle.telemetry`` at INFO)."""
        return logger.isEnabledFor(logging.INFO)

    def observing_operations(self) -> bool:
        """Whether any plugin implements the operation hooks (else operations cost nothing)."""
        return any(
            hook is not None and hook.get_hookimpls()
            for hook in (
                getattr(self._pm.hook, "rindle_operation_started", None),
                getattr(self._pm.hook, "rindle_operation_finished", None),
            )
        )

    @contextlib.contextmanager
    def operation(self, name: str, attributes: Mapping[str, Attribute]) -> Iterator[Operation]:
        """Report operation *name* to ``rindle_operation_started``/``_finished`` around the block.

        The block may add attributes and set ``outcome``; an exception sets
        ``outcome="error"`` and ``error`` (its class name) and propagates.
        """
        operation = Operation(name, dict(attributes))
        self.call("rindle_operation_started", {"operation": operation})
        try:
            yield operation
        except BaseException as exc:
            operation.finish(error=exc)
            raise
        else:
            operation.finish()
        finally:
            self.call("rindle_operation_finished", {"operation": operation})

    def log(self, name: str, **fields: Any) -> None:
        """A plain log record at INFO (no hook)."""
        log_event(logger, logging.INFO, name, **fields)


#: pluggy's own hook executor, replaced by ``pm.add_hookcall_monitoring``.
_UNMONITORED: Any = getattr(pluggy.PluginManager("rindle"), "_inner_hookexec", None)


def _monitored(pm: pluggy.PluginManager) -> bool:
    """Whether *pm* has hook-call monitoring (or tracing) on; True when unsure."""
    return _UNMONITORED is None or getattr(pm, "_inner_hookexec", None) is not _UNMONITORED


def _observer_failed(hook: str, plugin: str, exc: Exception) -> None:
    log_event(
        logger,
        logging.WARNING,
        "rindle.observer.failed",
        hook=hook,
        plugin=plugin,
        error=type(exc).__name__,
    )
