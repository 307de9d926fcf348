"""Job leases: the database's clock, the claim token and the heartbeat.

A running job's row holds ``locked_until`` and a ``claim_token`` fresh for
each claim. Lease times are written and compared by the database itself
(PostgreSQL ``clock_timestamp()``, MySQL/MariaDB ``UTC_TIMESTAMP(6)``,
SQLite ``'now'``), never by a worker's
clock, so a worker whose clock is off cannot steal a live job or hand out
a lease that is already over. Every write of a claim (renewal, outcome)
is a compare-and-set on ``id + state + claim_token``: a claim that was
taken over can no longer write anything.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import threading
import time
from typing import Any

from sqlalchemy import ColumnElement, DateTime, func, literal, literal_column, update

from ._clock import utcnow
from ._errors import RindleError
from ._telemetry import log_event
from .db import Database, jobs_table
from .db._dialects import family
from .states import JobState

__all__ = ["Lease", "LeaseLost", "current_lease", "db_now", "db_now_plus"]

_log = logging.getLogger("rindle.jobs")
_jobs = jobs_table
_current: contextvars.ContextVar[Lease | None] = contextvars.ContextVar(
    "rindle_current_lease", default=None
)
#: SQLite's ``%f`` is milliseconds; pad to the microseconds SQLAlchemy writes.
_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%f"


class LeaseLost(RindleError):
    """The job's lease is gone: another worker may be running the job."""


def db_now(dialect: str) -> ColumnElement[Any]:
    """The database's current time, as an SQL expression."""
    return db_now_plus(dialect, 0.0)


def db_now_plus(dialect: str, seconds: float) -> ColumnElement[Any]:
    """The database's time *seconds* from now, comparable with a ``UTCDateTime`` column.

    PostgreSQL: ``clock_timestamp()`` (the server's wall clock, not the
    transaction's start). MySQL/MariaDB: ``UTC_TIMESTAMP(6)`` (the
    statement's start, in UTC whatever the session's time zone). SQLite:
    ``strftime(…, 'now')`` in the format SQLAlchemy stores, so text
    comparison orders correctly; SQLite runs inside the worker, but its
    file lives on one host, so every worker reads the same clock. Other
    databases fall back to this process's clock (keep it NTP-synchronised).
    """
    dialect = family(dialect)
    if dialect == "postgresql":
        now = func.clock_timestamp(type_=DateTime(timezone=True))
        return now + dt.timedelta(seconds=seconds) if seconds else now
    if dialect == "sqlite":
        shifted = func.strftime(_SQLITE_FORMAT, "now", f"{seconds:+.6f} seconds")
        return shifted.concat("000")
    if dialect == "mysql":  # MySQL and MariaDB: UTC, to the microsecond, like the columns
        now = func.utc_timestamp(6, type_=DateTime())
        if not seconds:
            return now
        micros = round(seconds * 1_000_000)
        return func.timestampadd(literal_column("MICROSECOND"), micros, now, type_=DateTime())
    return literal(utcnow() + dt.timedelta(seconds=seconds), DateTime(timezone=True))


def current_lease() -> Lease | None:
    """The lease of the job whose handler is running in this thread, if any.

    Long handlers may call :meth:`Lease.check` between steps to stop early
    once the job is no longer theirs.
    """
    return _current.get()


class Lease:
    """One claim on one running job, renewed by a heartbeat while its handler runs.

    :meth:`renew` extends ``locked_until`` to the database's now plus
    ``seconds`` if the row still carries this claim's token; the heartbeat
    thread calls it every ``seconds / 3``. :attr:`lost` turns true when a
    renewal finds the claim gone; :attr:`expired` when no renewal has
    succeeded for ``seconds`` by this process's monotonic clock (the lease
    may have run out and the job been claimed elsewhere).
    """

    def __init__(
        self, database: Database, job_id: str, token: str, seconds: float, *, worker_id: str
    ) -> None:
        self.job_id = job_id
        self.token = token
        self.seconds = seconds
        self._db = database
        self._worker_id = worker_id
        self._lock = threading.Lock()
        self._lost = False
        self._valid_until = time.monotonic() + seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._context: contextvars.Token[Lease | None] | None = None

    def __repr__(self) -> str:
        return f"Lease(job_id={self.job_id!r}, seconds={self.seconds:g}, lost={self.lost})"

    @property
    def lost(self) -> bool:
        """True once a renewal found that this claim no longer holds the job."""
        return self._lost

    @property
    def expired(self) -> bool:
        """True when no renewal succeeded for a whole lease (by the local monotonic clock)."""
        return time.monotonic() > self._valid_until

    def check(self) -> None:
        """Raise :class:`LeaseLost` if the job may no longer be this claim's."""
        if self._lost or self.expired:
            raise LeaseLost(f"the lease on job {self.job_id} was lost")

    def renew(self) -> bool:
        """Extend the lease from the database's now; False if the claim is gone."""
        with self._lock:
            if self._lost:
                return False
            sent = time.monotonic()
            with self._db.transaction() as conn:
                renewed = conn.execute(
                    update(_jobs)
                    .where(
                        _jobs.c.id == self.job_id,
                        _jobs.c.state == JobState.RUNNING.value,
                        _jobs.c.claim_token == self.token,
                    )
                    .values(locked_until=db_now_plus(self._db.dialect, self.seconds))
                ).rowcount
            if renewed == 1:
                self._valid_until = sent + self.seconds
                return True
            self._lost = True
            log_event(
                _log,
                logging.WARNING,
                "rindle.job.lease_lost",
                job_id=self.job_id,
                worker=self._worker_id,
            )
            return False

    # -- the heartbeat ---------------------------------------------------------------

    def start(self) -> bool:
        """Stamp the lease now and start the heartbeat; False if the claim is already gone."""
        if not self.renew():
            return False
        self._context = _current.set(self)
        self._thread = threading.Thread(
            target=self._beat, name=f"rindle-lease-{self.job_id[:12]}", daemon=True
        )
        self._thread.start()
        return True

    def stop(self) -> None:
        """Stop the heartbeat (before the outcome is recorded)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._context is not None:
            _current.reset(self._context)
            self._context = None

    def _beat(self) -> None:
        interval = self.seconds / 3
        while not self._stop.wait(interval):
            try:
                if not self.renew():
                    return
            except Exception as exc:  # keep beating; Lease.expired tells the handler
                log_event(
                    _log,
                    logging.WARNING,
                    "rindle.job.lease_renewal_failed",
                    job_id=self.job_id,
                    error=type(exc).__name__,
                )
