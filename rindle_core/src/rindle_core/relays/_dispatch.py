"""Calling the ``rindle_dispatch_job`` relays, each shielded from the others.

pluggy stops a hook call at the first implementation that raises; a relay
that cannot reach its engine must not keep the others from being handed the
job. So each plain implementation is shielded (:mod:`rindle_core._isolation`,
as observers are) and the hook is then called by pluggy itself, so hook
wrappers and ``add_hookcall_monitoring`` see every dispatch. A failure is
logged (``rindle.dispatch.failed`` on the ``rindle.relays`` logger, with the
plugin's name and the error's class, never its message: it may quote a
broker URL with a password). The job row is durable either way: a job no
relay could hand over is re-dispatched by the sweep
(:func:`rindle_core.relays.redispatch_stale`).
"""

from __future__ import annotations

import contextvars
import logging

import pluggy

from .._isolation import OnError, isolate
from .._telemetry import log_event
from ..models import Job

__all__ = ["dispatch_job"]

logger = logging.getLogger("rindle.relays")

#: The running dispatch's error handler: shields are made once per
#: implementation, the handler changes with each job.
_current: contextvars.ContextVar[OnError | None] = contextvars.ContextVar(
    "rindle_dispatch_on_error", default=None
)


def _report(hook_name: str, plugin_name: str, exc: Exception) -> None:
    on_error = _current.get()
    if on_error is not None:
        on_error(hook_name, plugin_name, exc)
    else:  # the hook called directly, outside dispatch_job: still logged
        log_event(
            logger,
            logging.WARNING,
            "rindle.dispatch.failed",
            plugin=plugin_name,
            error=type(exc).__name__,
        )


def dispatch_job(pm: pluggy.PluginManager, job: Job) -> int:
    """Hand the committed *job* to every ``rindle_dispatch_job`` implementation.

    Returns how many plain implementations succeeded; one that raises is
    logged and the next is still called. A wrapper that raises is logged too.
    """
    hook = pm.hook.rindle_dispatch_job
    failed: list[str] = []

    def on_error(hook_name: str, plugin_name: str, exc: Exception) -> None:
        failed.append(plugin_name)
        log_event(
            logger,
            logging.WARNING,
            "rindle.dispatch.failed",
            job_id=job.id,
            plugin=plugin_name,
            error=type(exc).__name__,
        )

    relays = [impl for impl in hook.get_hookimpls() if not (impl.wrapper or impl.hookwrapper)]
    isolate(hook, _report)
    token = _current.set(on_error)
    try:
        hook(job=job)
    except Exception as exc:  # a wrapper's own failure: wrappers are not shielded
        on_error(hook.name, "<wrapper>", exc)
        return 0
    finally:
        _current.reset(token)
    return len(relays) - len(failed)
