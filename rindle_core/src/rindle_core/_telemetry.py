"""Telemetry: log events and observer hooks, emitted after commit.

Code that changes state collects :class:`Event` objects while its
transaction is open and hands them to :meth:`Telemetry.emit` once it has
committed; a rolled-back transaction therefore emits nothing. Events carry
ids, states and names only: never URLs, tokens or session URIs.

Events go to the standard :mod:`logging` module under ``rindle.*`` loggers,
so a host app sees them only if it configures logging. Each record's message
is ``<event> key=value ...``; the record also carries ``rindle_event`` (the
event name) and ``rindle_fields`` (a dict) for structured handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import pluggy

from .models import Asset, MaintenanceReport, UploadSession

__all__ = [
    "Event",
    "Telemetry",
    "asset_event",
    "log_event",
    "maintenance_event",
    "session_event",
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


def session_event(session: UploadSession, from_state: str, to_state: str) -> Event:
    """``rindle.session.transition`` for *session*."""
    return Event(
        "rindle.session.transition",
        {
            "session_id": session.id,
            "asset_id": session.asset_id,
            "profile": session.profile,
            "strategy": session.upload_strategy,
            "from_state": from_state,
            "to_state": to_state,
        },
        "rindle_session_transitioned",
        {"session": session, "from_state": from_state, "to_state": to_state},
    )


def asset_event(asset: Asset, from_state: str, to_state: str) -> Event:
    """``rindle.asset.transition`` for *asset*."""
    fields: dict[str, Any] = {
        "asset_id": asset.id,
        "profile": asset.profile,
        "from_state": from_state,
        "to_state": to_state,
    }
    if asset.quarantine_reason:
        fields["reason"] = asset.quarantine_reason
    return Event(
        "rindle.asset.transition",
        fields,
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
    """Emits events to the ``rindle.telemetry`` logger and to the observer hooks."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm

    def emit(self, events: Iterable[Event]) -> None:
        """Emit *events* in order; an observer's failure is logged, not raised."""
        for event in events:
            log_event(logger, logging.INFO, event.name, **event.fields)
            if event.hook is None:
                continue
            # Call each observer on its own so one failing observer neither
            # breaks the upload path nor silences the others.
            for impl in getattr(self._pm.hook, event.hook).get_hookimpls():
                try:
                    impl.function(**{name: event.hook_kwargs[name] for name in impl.argnames})
                except Exception as exc:
                    log_event(
                        logger,
                        logging.WARNING,
                        "rindle.observer.failed",
                        hook=event.hook,
                        plugin=impl.plugin_name,
                        error=type(exc).__name__,
                    )

    def log(self, name: str, **fields: Any) -> None:
        """A plain log record at INFO (no hook)."""
        log_event(logger, logging.INFO, name, **fields)
