"""The transactional outbox and the job runner.

Jobs are rows inserted in the **same transaction** as the change that needs
them (so a crash can never lose one). A :class:`JobRunner` claims one due job
at a time — ``FOR UPDATE SKIP LOCKED`` on PostgreSQL plus a compare-and-set
on every backend — runs it outside any transaction under a lease that a
heartbeat renews while the handler runs, and records the outcome with a
compare-and-set on the claim's token, retrying with exponential backoff up
to ``max_attempts``. A lease that runs out (the worker died or hung) counts
as an attempt. Lease times are the database's clock (see :mod:`._leases`).
Handlers must be idempotent per job; rindle's are.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import socket
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import attrs
import pluggy
from sqlalchemy import Connection, and_, or_, select, update

from ._clock import utcnow
from ._decisions import new_id
from ._errors import ConfigurationError, RindleError
from ._leases import Lease, LeaseLost, current_lease, db_now, db_now_plus
from ._telemetry import Telemetry
from .db import Database, jobs_table
from .db._repo import job_from_row, load_job
from .db._upserts import insert_unless_exists
from .models import Job
from .states import JobState, transition

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_MAX_ATTEMPTS",
    "JobOutcome",
    "JobRunner",
    "Lease",
    "LeaseLost",
    "PermanentJobError",
    "current_lease",
    "enqueue",
]

_jobs = jobs_table

#: Attempts before a failing job is marked ``failed`` (Broker, TOML and docs agree).
DEFAULT_MAX_ATTEMPTS: Final = 10
#: Seconds a claim holds a job without renewal; the heartbeat renews every third.
DEFAULT_LEASE: Final = 300.0

Handler = Callable[[Job], None]
#: ``lost``: the claim lost the job while it ran (its lease ran out and another
#: worker claimed it, or it could not be renewed); its outcome was not recorded.
Result = Literal["succeeded", "retry", "failed", "lost"]

_EXPIRED = re.compile(r"^LeaseExpired: lease expired (\d+) times?")


class PermanentJobError(RindleError):
    """A job failed in a way retrying cannot fix."""


@attrs.frozen
class JobOutcome:
    """What happened to one job in a run."""

    job_id: str
    kind: str
    result: Result
    attempts: int
    error: str | None = None


@attrs.frozen
class _Claim:
    job: Job
    token: str


def enqueue(
    conn: Connection,
    *,
    kind: str,
    payload: Mapping[str, object],
    dedupe_key: str,
    now: dt.datetime,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    run_at: dt.datetime | None = None,
) -> str | None:
    """Insert a job in the caller's transaction, due at *run_at* (default *now*);
    None if *dedupe_key* exists."""
    row = new_job_row(
        kind=kind, payload=payload, dedupe_key=dedupe_key, now=now, max_attempts=max_attempts
    )
    row["run_at"] = max(now, run_at) if run_at is not None else now
    job_id = row["id"]
    return str(job_id) if insert_unless_exists(conn, _jobs, row, key="dedupe_key") else None


def new_job_row(
    *,
    kind: str,
    payload: Mapping[str, object],
    dedupe_key: str,
    now: dt.datetime,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> dict[str, object]:
    """A new pending job's row: every column but ``run_at``, which the caller decides."""
    return {
        "id": new_id(),
        "kind": kind,
        "dedupe_key": dedupe_key,
        "payload": dict(payload),
        "state": JobState.PENDING.value,
        "attempts": 0,
        "max_attempts": max_attempts,
        "created_at": now,
        "updated_at": now,
    }


def check_lease(seconds: float) -> float:
    """*seconds* as a lease length; :class:`ConfigurationError` unless finite and positive."""
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or seconds <= 0
    ):
        raise ConfigurationError(
            f"lease must be a positive, finite number of seconds, got {seconds!r}"
        )
    return float(seconds)


class JobRunner:
    """Claims and runs due jobs, one at a time.

    ``handlers`` maps a job kind to a callable taking the :class:`Job`. A
    handler that raises is retried after ``backoff_base * 2**(attempts-1)``
    seconds (capped at ``backoff_max``) until the job's ``max_attempts``;
    :class:`PermanentJobError` fails the job at once.

    Each claimed job gets a fresh claim token and a ``lease`` (seconds) that
    starts when it starts and is renewed every ``lease / 3`` while the
    handler runs. A job whose lease ran out (its worker died or hung) is
    claimed again, and that reclaim counts as an attempt: once none is left
    the job is ``failed`` ("lease expired N times"). ``clock`` schedules
    (``run_at``, backoff); leases always use the database's clock.
    """

    def __init__(
        self,
        database: Database,
        handlers: Mapping[str, Handler],
        *,
        worker_id: str | None = None,
        lease: float = DEFAULT_LEASE,
        backoff_base: float = 2.0,
        backoff_max: float = 600.0,
        clock: Callable[[], dt.datetime] = utcnow,
        on_outcome: Callable[[JobOutcome], None] | None = None,
        plugin_manager: pluggy.PluginManager | None = None,
    ) -> None:
        self._db = database
        self._handlers = dict(handlers)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"
        self.lease = lease
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._clock = clock
        self._on_outcome = on_outcome
        # Each run is reported to the operation hooks (a span per job run).
        self._telemetry = Telemetry(plugin_manager) if plugin_manager is not None else None

    @property
    def lease(self) -> float:
        """Seconds a claim holds a job without renewal (applies to later claims)."""
        return self._lease

    @lease.setter
    def lease(self, seconds: float) -> None:
        self._lease = check_lease(seconds)

    # -- claiming -----------------------------------------------------------------

    def claim(self, limit: int = 1, *, job_id: str | None = None) -> list[Job]:
        """Claim up to *limit* due jobs (or the one *job_id* if it is due).

        Each lease starts now and nothing renews it: :meth:`run_due` and
        :meth:`run_job` claim one job at a time and run it at once, under a
        heartbeat. This is for tests and tools; a stale job whose attempts
        are spent is failed here rather than returned.
        """
        claims, failed = self._claim(limit, job_id)
        for outcome in failed:
            self._emit(outcome)
        return [c.job for c in claims]

    def _claim(self, limit: int, job_id: str | None) -> tuple[list[_Claim], list[JobOutcome]]:
        now = self._clock()
        db_clock = db_now(self._db.dialect)
        due = or_(
            and_(_jobs.c.state == JobState.PENDING.value, _jobs.c.run_at <= now),
            and_(_jobs.c.state == JobState.RUNNING.value, _jobs.c.locked_until < db_clock),
        )
        query = select(
            _jobs.c.id,
            _jobs.c.kind,
            _jobs.c.state,
            _jobs.c.attempts,
            _jobs.c.max_attempts,
            _jobs.c.last_error,
        ).where(due)
        if job_id is not None:
            query = query.where(_jobs.c.id == job_id)
        query = query.order_by(_jobs.c.run_at).limit(limit)
        if self._db.dialect in ("postgresql", "mysql"):
            query = query.with_for_update(skip_locked=True)
        claims: list[_Claim] = []
        failed: list[JobOutcome] = []
        with self._db.transaction() as conn:
            for row in conn.execute(query).all():
                if JobState(row.state) is JobState.RUNNING:
                    expiries = _expiries(row.last_error) + 1
                    if row.attempts >= row.max_attempts:
                        outcome = self._fail_stale(conn, row, expiries, now)
                        if outcome is not None:
                            failed.append(outcome)
                        continue
                    if not self._release_stale(conn, row.id, expiries, now):
                        continue
                token = str(uuid.uuid4())
                transition(JobState.PENDING, JobState.RUNNING)
                claimed = conn.execute(
                    update(_jobs)
                    .where(_jobs.c.id == row.id, _jobs.c.state == JobState.PENDING.value)
                    .values(
                        state=JobState.RUNNING.value,
                        attempts=_jobs.c.attempts + 1,
                        locked_by=self.worker_id,
                        locked_until=db_now_plus(self._db.dialect, self._lease),
                        claim_token=token,
                        updated_at=now,
                    )
                ).rowcount
                if claimed == 1:
                    job = load_job(conn, row.id)
                    assert job is not None
                    claims.append(_Claim(job, token))
        return claims, failed

    def _stale(self, job_id: str) -> Any:
        """Where-clause: *job_id* is running and its lease is over (database clock)."""
        return and_(
            _jobs.c.id == job_id,
            _jobs.c.state == JobState.RUNNING.value,
            _jobs.c.locked_until < db_now(self._db.dialect),
        )

    def _release_stale(
        self, conn: Connection, job_id: str, expiries: int, now: dt.datetime
    ) -> bool:
        message = f"LeaseExpired: lease expired {_times(expiries)} in a row (worker died or hung)"
        return self._end_stale(conn, job_id, JobState.PENDING, message, now)

    def _fail_stale(
        self, conn: Connection, row: Any, expiries: int, now: dt.datetime
    ) -> JobOutcome | None:
        message = (
            f"LeaseExpired: lease expired {_times(expiries)}; attempts exhausted "
            f"({row.attempts}/{row.max_attempts}): its handler may kill or hang its worker"
        )
        if not self._end_stale(conn, row.id, JobState.FAILED, message, now):
            return None
        return JobOutcome(row.id, row.kind, "failed", row.attempts, message)

    def _end_stale(
        self, conn: Connection, job_id: str, target: JobState, message: str, now: dt.datetime
    ) -> bool:
        """Take a job whose lease ran out from its claim: ``running → target``."""
        transition(JobState.RUNNING, target)
        result = conn.execute(
            update(_jobs)
            .where(self._stale(job_id))
            .values(
                state=target.value,
                locked_by=None,
                locked_until=None,
                claim_token=None,
                last_error=message,
                updated_at=now,
            )
        )
        return result.rowcount == 1

    # -- running ------------------------------------------------------------------

    def run_due(self, limit: int = 100) -> list[JobOutcome]:
        """Claim and run due jobs, one at a time, until none is left or *limit* have run."""
        outcomes: list[JobOutcome] = []
        while len(outcomes) < limit:
            claims, failed = self._claim(1, None)
            for outcome in failed:
                self._emit(outcome)
            outcomes.extend(failed)
            if not claims and not failed:
                break
            outcomes.extend(self._run(claim) for claim in claims)
        return outcomes

    def run_job(self, job_id: str) -> JobOutcome | None:
        """Run one job now if it is due and unclaimed; None otherwise."""
        claims, failed = self._claim(1, job_id)
        for outcome in failed:
            self._emit(outcome)
        if claims:
            return self._run(claims[0])
        return failed[0] if failed else None

    def _run(self, claim: _Claim) -> JobOutcome:
        telemetry = self._telemetry
        if telemetry is None or not telemetry.observing_operations():
            return self._run_claimed(claim)
        job = claim.job
        attributes: dict[str, str | int] = {
            "job_id": job.id,
            "kind": job.kind,
            "attempt": job.attempts,
        }
        asset_id = job.payload.get("asset_id")
        if isinstance(asset_id, str):
            attributes["asset_id"] = asset_id
        with telemetry.operation("job.run", attributes) as operation:
            outcome = self._run_claimed(claim)
            operation.outcome = outcome.result
            return outcome

    def _run_claimed(self, claim: _Claim) -> JobOutcome:
        job = claim.job
        lease = Lease(self._db, job.id, claim.token, self._lease, worker_id=self.worker_id)
        if not lease.start():  # the claim is checked (and the lease stamped) first
            outcome = JobOutcome(job.id, job.kind, "lost", job.attempts)
            self._emit(outcome)
            return outcome
        handler = self._handlers.get(job.kind)
        error: BaseException | None = None
        try:
            if handler is None:
                error = PermanentJobError(f"no handler for job kind {job.kind!r}")
            else:
                handler(job)
        except Exception as exc:
            error = exc
        finally:
            lease.stop()
        outcome = self._record(claim, error)
        self._emit(outcome)
        return outcome

    def _emit(self, outcome: JobOutcome) -> None:
        if self._on_outcome is not None:
            self._on_outcome(outcome)

    def _record(self, claim: _Claim, error: BaseException | None) -> JobOutcome:
        job = claim.job
        now = self._clock()
        result: Result
        message = None if error is None else _describe(error)
        run_at = job.run_at
        if error is None:
            target, result = JobState.SUCCEEDED, "succeeded"
        elif not isinstance(error, PermanentJobError) and job.attempts < job.max_attempts:
            delay = min(self._backoff_max, self._backoff_base * 2 ** (job.attempts - 1))
            target, result = JobState.PENDING, "retry"
            run_at = now + dt.timedelta(seconds=delay)
        else:
            target, result = JobState.FAILED, "failed"
        transition(JobState.RUNNING, target)
        with self._db.transaction() as conn:
            written = conn.execute(
                update(_jobs)
                .where(
                    _jobs.c.id == job.id,
                    _jobs.c.state == JobState.RUNNING.value,
                    _jobs.c.claim_token == claim.token,
                )
                .values(
                    state=target.value,
                    run_at=run_at,
                    locked_by=None,
                    locked_until=None,
                    claim_token=None,
                    last_error=message,
                    updated_at=now,
                )
            ).rowcount
        if written != 1:
            # Another claim holds the job now: the outcome is that claim's to record.
            result = "lost"
        return JobOutcome(job.id, job.kind, result, job.attempts, message)

    # -- operations ---------------------------------------------------------------

    def retry_failed(self, job_id: str) -> bool:
        """Put a failed job back in the queue (an operator's decision)."""
        now = self._clock()
        transition(JobState.FAILED, JobState.PENDING)
        with self._db.transaction() as conn:
            return (
                conn.execute(
                    update(_jobs)
                    .where(_jobs.c.id == job_id, _jobs.c.state == JobState.FAILED.value)
                    .values(
                        state=JobState.PENDING.value,
                        attempts=0,
                        run_at=now,
                        claim_token=None,
                        updated_at=now,
                    )
                ).rowcount
                == 1
            )

    def retry_all_failed(self, limit: int = 10_000) -> int:
        """Re-queue up to *limit* failed jobs; returns how many were re-queued."""
        failed = self.list(state=JobState.FAILED, limit=limit)
        return sum(self.retry_failed(job.id) for job in failed)

    def get(self, job_id: str) -> Job | None:
        """The job's current snapshot."""
        with self._db.read() as conn:
            return load_job(conn, job_id)

    def list(self, *, state: JobState | None = None, limit: int = 100) -> list[Job]:
        """Jobs, oldest first."""
        query = select(_jobs).order_by(_jobs.c.created_at).limit(limit)
        if state is not None:
            query = query.where(_jobs.c.state == state.value)
        with self._db.read() as conn:
            return [job_from_row(r) for r in conn.execute(query)]


def _expiries(last_error: str | None) -> int:
    """Lease expiries in a row so far, as recorded in *last_error*."""
    match = _EXPIRED.match(last_error or "")
    return int(match.group(1)) if match else 0


def _times(count: int) -> str:
    return f"{count} time" if count == 1 else f"{count} times"


def _describe(error: BaseException) -> str:
    if isinstance(error, RindleError):
        return f"{type(error).__name__}: {error}"[:500]
    # Foreign exceptions may quote URLs with signatures: keep only the type.
    return type(error).__name__
