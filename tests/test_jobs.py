"""The outbox and job runner: retries, backoff, leases, idempotent enqueue."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update

from rindle_core import Database, JobRunner, JobState, PermanentJobError, StorageUnavailable
from rindle_core.db import jobs_table
from rindle_core.jobs import enqueue

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def add_job(db: Database, key: str = "k", max_attempts: int = 3) -> str:
    with db.transaction() as conn:
        job_id = enqueue(
            conn, kind="work", payload={"n": 1}, dedupe_key=key, now=T0, max_attempts=max_attempts
        )
    assert job_id is not None
    return job_id


def test_enqueue_is_deduplicated(any_db: Database) -> None:
    add_job(any_db)
    with any_db.transaction() as conn:
        assert enqueue(conn, kind="work", payload={}, dedupe_key="k", now=T0) is None


def test_enqueue_rolls_back_with_its_transaction(sqlite_db: Database) -> None:
    def change_that_fails() -> None:
        with sqlite_db.transaction() as conn:
            enqueue(conn, kind="work", payload={}, dedupe_key="k", now=T0)
            raise RuntimeError("the surrounding change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    assert JobRunner(sqlite_db, {}).list() == []


def test_retries_with_backoff_then_fails(any_db: Database) -> None:
    clock = Clock()
    calls: list[int] = []

    def flaky(job: Any) -> None:
        calls.append(job.attempts)
        raise StorageUnavailable("503")

    runner = JobRunner(any_db, {"work": flaky}, clock=clock, backoff_base=10)
    job_id = add_job(any_db)
    assert [o.result for o in runner.run_due()] == ["retry"]
    assert runner.run_due() == []  # not due for 10 s
    clock.advance(10)
    assert [o.result for o in runner.run_due()] == ["retry"]
    clock.advance(19)
    assert runner.run_due() == []  # second backoff is 20 s
    clock.advance(1)
    assert [o.result for o in runner.run_due()] == ["failed"]
    job = runner.get(job_id)
    assert job is not None and job.state is JobState.FAILED and job.attempts == 3
    assert calls == [1, 2, 3]
    assert runner.retry_failed(job_id)
    assert runner.get(job_id).state is JobState.PENDING  # type: ignore[union-attr]


def test_permanent_errors_fail_at_once(sqlite_db: Database) -> None:
    def broken(job: Any) -> None:
        raise PermanentJobError("cannot ever work")

    runner = JobRunner(sqlite_db, {"work": broken}, clock=Clock())
    add_job(sqlite_db)
    (outcome,) = runner.run_due()
    assert outcome.result == "failed" and outcome.attempts == 1


def test_unknown_kind_fails_without_crashing_the_runner(sqlite_db: Database) -> None:
    add_job(sqlite_db)
    (outcome,) = JobRunner(sqlite_db, {}, clock=Clock()).run_due()
    assert outcome.result == "failed" and "no handler" in (outcome.error or "")


def test_foreign_exception_text_is_not_stored(sqlite_db: Database) -> None:
    def leaky(job: Any) -> None:
        raise ValueError("https://bucket/key?X-Amz-Signature=deadbeef")

    runner = JobRunner(sqlite_db, {"work": leaky}, clock=Clock())
    job_id = add_job(sqlite_db)
    runner.run_due()
    assert "deadbeef" not in (runner.get(job_id).last_error or "")  # type: ignore[union-attr]


def expire_lease(db: Database, job_id: str) -> None:
    """Leases use the database's clock: move this one into the past."""
    with db.transaction() as conn:
        conn.execute(
            update(jobs_table)
            .where(jobs_table.c.id == job_id)
            .values(locked_until=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        )


def test_a_dead_workers_lease_runs_out(any_db: Database) -> None:
    clock = Clock()
    done: list[Any] = []
    dead = JobRunner(any_db, {"work": done.append}, clock=clock, lease=60)
    alive = JobRunner(any_db, {"work": done.append}, clock=clock, lease=60)
    job_id = add_job(any_db)
    assert [j.id for j in dead.claim()] == [job_id]  # claimed, then the worker "dies"
    clock.advance(3600)  # the scheduling clock does not end a lease...
    assert alive.run_due() == []
    expire_lease(any_db, job_id)  # ...the database's clock does
    (outcome,) = alive.run_due()
    assert outcome.result == "succeeded" and outcome.attempts == 2
    job = alive.get(job_id)
    assert job is not None and job.last_error is None


def test_run_job_runs_only_that_job(sqlite_db: Database) -> None:
    ran: list[Any] = []
    runner = JobRunner(sqlite_db, {"work": lambda job: ran.append(job.payload)}, clock=Clock())
    first = add_job(sqlite_db, "a")
    add_job(sqlite_db, "b")
    outcome = runner.run_job(first)
    assert outcome is not None and outcome.job_id == first
    assert len(ran) == 1
    assert runner.run_job(first) is None  # already done


def test_a_worker_whose_lease_ran_out_reports_the_job_lost(any_db: Database) -> None:
    clock = Clock()
    job_id = add_job(any_db)
    other = JobRunner(any_db, {"work": lambda job: None}, clock=clock, lease=60)

    def slow(job: Any) -> None:
        expire_lease(any_db, job_id)  # the lease runs out while this handler works...
        assert other.run_due()[0].result == "succeeded"  # ...and another worker takes over

    (outcome,) = JobRunner(any_db, {"work": slow}, clock=clock, lease=60).run_due()
    assert outcome.result == "lost"
    job = other.get(job_id)
    assert job is not None and job.state is JobState.SUCCEEDED and job.attempts == 2
