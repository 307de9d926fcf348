"""The transactional outbox and the job runner.

Jobs are rows inserted in the **same transaction** as the change that needs
them (so a crash can never lose one). A :class:`JobRunner` claims due jobs —
with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, and a compare-and-set on every
backend so that no job runs twice at once — runs them outside any
transaction, and records the outcome, retrying with exponential backoff up to
``max_attempts``. Handlers must be idempotent per job; rindle's are.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs
from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ._decisions import new_id
from ._errors import RindleError
from .db import Database, jobs_table
from .db._repo import cas_job, job_from_row, load_job
from .models import Job
from .states import JobState, transition
from .storage import utcnow

__all__ = ["JobOutcome", "JobRunner", "PermanentJobError", "enqueue"]

_jobs = jobs_table

Handler = Callable[[Job], None]
#: ``lost``: the lease ran out mid-run and another worker took the job over.
Result = Literal["succeeded", "retry", "failed", "lost"]


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


def enqueue(
    conn: Connection,
    *,
    kind: str,
    payload: Mapping[str, Any],
    dedupe_key: str,
    now: dt.datetime,
    max_attempts: int = 5,
) -> str | None:
    """Insert a job in the caller's transaction; None if *dedupe_key* exists."""
    job_id = new_id()
    insert_fn = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert_fn(_jobs)
        .values(
            id=job_id,
            kind=kind,
            dedupe_key=dedupe_key,
            payload=dict(payload),
            state=JobState.PENDING.value,
            attempts=0,
            max_attempts=max_attempts,
            run_at=now,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[_jobs.c.dedupe_key])
        .returning(_jobs.c.id)
    )
    inserted = conn.execute(stmt).scalar_one_or_none()
    return str(inserted) if inserted is not None else None


class JobRunner:
    """Claims and runs due jobs.

    ``handlers`` maps a job kind to a callable taking the :class:`Job`. A
    handler that raises is retried after ``backoff_base * 2**(attempts-1)``
    seconds (capped at ``backoff_max``) until ``max_attempts``;
    :class:`PermanentJobError` fails the job at once. A claimed job whose
    worker died is claimed again once its ``lease`` runs out.
    """

    def __init__(
        self,
        database: Database,
        handlers: Mapping[str, Handler],
        *,
        worker_id: str | None = None,
        lease: float = 300.0,
        backoff_base: float = 2.0,
        backoff_max: float = 600.0,
        clock: Callable[[], dt.datetime] = utcnow,
        on_outcome: Callable[[JobOutcome], None] | None = None,
    ) -> None:
        self._db = database
        self._handlers = dict(handlers)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"
        self._lease = dt.timedelta(seconds=lease)
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._clock = clock
        self._on_outcome = on_outcome

    # -- claiming -----------------------------------------------------------------

    def claim(self, limit: int = 10, *, job_id: str | None = None) -> list[Job]:
        """Claim up to *limit* due jobs (or the one *job_id* if it is due)."""
        now = self._clock()
        due = or_(
            and_(_jobs.c.state == JobState.PENDING.value, _jobs.c.run_at <= now),
            and_(_jobs.c.state == JobState.RUNNING.value, _jobs.c.locked_until < now),
        )
        query = select(_jobs.c.id, _jobs.c.state).where(due)
        if job_id is not None:
            query = query.where(_jobs.c.id == job_id)
        query = query.order_by(_jobs.c.run_at).limit(limit)
        if self._db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed: list[Job] = []
        with self._db.transaction() as conn:
            for row in conn.execute(query).all():
                state = JobState(row.state)
                if state is JobState.RUNNING and not self._release_stale(conn, row.id, now):
                    continue
                ok = cas_job(
                    conn,
                    row.id,
                    JobState.PENDING,
                    JobState.RUNNING,
                    now,
                    attempts=_jobs.c.attempts + 1,
                    locked_by=self.worker_id,
                    locked_until=now + self._lease,
                )
                if ok:
                    job = load_job(conn, row.id)
                    assert job is not None
                    claimed.append(job)
        return claimed

    def _release_stale(self, conn: Connection, job_id: str, now: dt.datetime) -> bool:
        transition(JobState.RUNNING, JobState.PENDING)
        result = conn.execute(
            update(_jobs)
            .where(
                _jobs.c.id == job_id,
                _jobs.c.state == JobState.RUNNING.value,
                _jobs.c.locked_until < now,
            )
            .values(state=JobState.PENDING.value, locked_by=None, updated_at=now)
        )
        return result.rowcount == 1

    # -- running ------------------------------------------------------------------

    def run_due(self, limit: int = 100) -> list[JobOutcome]:
        """Claim and run due jobs until none is left or *limit* have run."""
        outcomes: list[JobOutcome] = []
        while len(outcomes) < limit:
            batch = self.claim(min(10, limit - len(outcomes)))
            if not batch:
                break
            outcomes.extend(self._run(job) for job in batch)
        return outcomes

    def run_job(self, job_id: str) -> JobOutcome | None:
        """Run one job now if it is due and unclaimed; None otherwise."""
        jobs = self.claim(1, job_id=job_id)
        return self._run(jobs[0]) if jobs else None

    def _run(self, job: Job) -> JobOutcome:
        handler = self._handlers.get(job.kind)
        error: BaseException | None = None
        if handler is None:
            error = PermanentJobError(f"no handler for job kind {job.kind!r}")
        else:
            try:
                handler(job)
            except Exception as exc:
                error = exc
        outcome = self._record(job, error)
        if self._on_outcome is not None:
            self._on_outcome(outcome)
        return outcome

    def _record(self, job: Job, error: BaseException | None) -> JobOutcome:
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
                    _jobs.c.locked_by == self.worker_id,
                )
                .values(
                    state=target.value,
                    run_at=run_at,
                    locked_by=None,
                    locked_until=None,
                    last_error=message,
                    updated_at=now,
                )
            ).rowcount
        if written != 1:
            # The lease ran out while the handler ran and another worker claimed
            # the job: its outcome is that worker's to record.
            result = "lost"
        return JobOutcome(job.id, job.kind, result, job.attempts, message)

    # -- operations ---------------------------------------------------------------

    def retry_failed(self, job_id: str) -> bool:
        """Put a failed job back in the queue (an operator's decision)."""
        now = self._clock()
        with self._db.transaction() as conn:
            return cas_job(
                conn, job_id, JobState.FAILED, JobState.PENDING, now, attempts=0, run_at=now
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


def _describe(error: BaseException) -> str:
    if isinstance(error, RindleError):
        return f"{type(error).__name__}: {error}"[:500]
    # Foreign exceptions may quote URLs with signatures: keep only the type.
    return type(error).__name__
