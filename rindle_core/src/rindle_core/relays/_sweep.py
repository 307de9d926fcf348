"""Re-dispatching jobs an engine never ran.

A relay hands a job id to its engine after the commit; the engine may lose
it (a broker restarted without persistence, a worker killed holding an
unacknowledged message, a relay that could not connect). The outbox row is
the truth: :func:`redispatch_stale` finds jobs that have been due for longer
than *timeout* without anyone touching them, stamps each one's
``updated_at`` by compare-and-set (so concurrent sweeps hand a job over
once, and the next sweep waits another *timeout*), and, after the commit,
hands them to the relays again. Stale means:

- ``pending`` and both ``run_at`` and ``updated_at`` older than *timeout*
  (due, and neither enqueued, retried nor re-dispatched since), or
- ``running`` with its lease over (its worker died) and ``updated_at``
  older than *timeout*.

Re-dispatching a job that is in fact still queued is harmless: the engine's
task runs it under rindle's own claim, so the second delivery finds nothing
to do.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from typing import Any

import attrs
from sqlalchemy import and_, or_, select, update

from .._clock import utcnow
from .._errors import ConfigurationError
from .._leases import db_now
from .._telemetry import log_event
from ..db import Database, jobs_table
from ..db._repo import load_job
from ..models import Job
from ..states import JobState

__all__ = ["DEFAULT_REDISPATCH_TIMEOUT", "RedispatchReport", "redispatch_stale"]

logger = logging.getLogger("rindle.relays")

_jobs = jobs_table

#: Seconds a due job may wait in an engine's queue before it is handed over again.
DEFAULT_REDISPATCH_TIMEOUT = 300.0


@attrs.frozen
class RedispatchReport:
    """What one sweep re-dispatched (job ids) and how many relay calls failed."""

    job_ids: tuple[str, ...] = ()
    failures: int = 0

    @property
    def redispatched(self) -> int:
        """How many jobs were handed to the relays again."""
        return len(self.job_ids)


def check_timeout(seconds: float) -> float:
    """*seconds* as a re-dispatch timeout: finite and not negative."""
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or seconds < 0
    ):
        raise ConfigurationError(
            f"re-dispatch timeout must be a finite number of seconds >= 0, got {seconds!r}"
        )
    return float(seconds)


def _stale(dialect: str, cutoff: dt.datetime) -> Any:
    return or_(
        and_(
            _jobs.c.state == JobState.PENDING.value,
            _jobs.c.run_at <= cutoff,
            _jobs.c.updated_at <= cutoff,
        ),
        and_(
            _jobs.c.state == JobState.RUNNING.value,
            _jobs.c.locked_until < db_now(dialect),
            _jobs.c.updated_at <= cutoff,
        ),
    )


def redispatch_stale(
    database: Database,
    dispatch: Callable[[Job], object],
    *,
    timeout: float = DEFAULT_REDISPATCH_TIMEOUT,
    limit: int = 1000,
    clock: Callable[[], dt.datetime] = utcnow,
) -> RedispatchReport:
    """Hand jobs that waited longer than *timeout* seconds to *dispatch* again.

    *dispatch* is called after the commit, once per job (a relay's
    ``rindle_dispatch_job``, or :func:`~rindle_core.relays.dispatch_job`
    bound to a plugin manager); an exception from it is logged and counted,
    and the sweep goes on with the next job.
    """
    seconds = check_timeout(timeout)
    now = clock()
    cutoff = now - dt.timedelta(seconds=seconds)
    stale = _stale(database.dialect, cutoff)
    query = select(_jobs.c.id).where(stale).order_by(_jobs.c.run_at).limit(limit)
    taken: list[Job] = []
    with database.transaction() as conn:
        for job_id in conn.execute(query).scalars().all():
            stamped = conn.execute(
                update(_jobs).where(_jobs.c.id == job_id, stale).values(updated_at=now)
            ).rowcount
            if stamped == 1:
                job = load_job(conn, job_id)
                if job is not None:
                    taken.append(job)
    failures = 0
    for job in taken:
        try:
            dispatch(job)
        except Exception as exc:
            failures += 1
            log_event(
                logger,
                logging.WARNING,
                "rindle.relay.redispatch_failed",
                job_id=job.id,
                error=type(exc).__name__,
            )
    if taken:
        log_event(
            logger,
            logging.INFO,
            "rindle.relay.redispatched",
            jobs=len(taken),
            failures=failures,
            timeout=seconds,
        )
    return RedispatchReport(tuple(job.id for job in taken), failures)
