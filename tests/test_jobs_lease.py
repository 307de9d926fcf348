"""Leases: one job per claim, renewed while it runs, guarded by a claim token.

Leases are compared on the database's clock, so these tests expire a lease
by moving ``locked_until`` into the past (what a stalled heartbeat leads to)
instead of advancing an injected clock.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from rindle_core import Database, JobRunner, JobState
from rindle_core.adapters import utcnow
from rindle_core.db import jobs_table
from rindle_core.jobs import LeaseLost, current_lease, enqueue

LONG_AGO = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def add_jobs(db: Database, count: int, *, max_attempts: int = 10, prefix: str = "j") -> list[str]:
    """*count* due jobs of kind ``work``, oldest first."""
    start = utcnow() - dt.timedelta(hours=1)  # due even for a clock minutes behind
    ids: list[str] = []
    with db.transaction() as conn:
        for i in range(count):
            job_id = enqueue(
                conn,
                kind="work",
                payload={"i": i},
                dedupe_key=f"{prefix}{i}",
                now=start + dt.timedelta(milliseconds=i),
                max_attempts=max_attempts,
            )
            assert job_id is not None
            ids.append(job_id)
    return ids


def expire_lease(db: Database, job_id: str) -> None:
    """What a holder whose heartbeat stalled leaves behind: a lease in the past."""
    with db.transaction() as conn:
        conn.execute(
            update(jobs_table).where(jobs_table.c.id == job_id).values(locked_until=LONG_AGO)
        )


def token_of(db: Database, job_id: str) -> str | None:
    with db.read() as conn:
        return conn.execute(  # type: ignore[no-any-return]
            select(jobs_table.c.claim_token).where(jobs_table.c.id == job_id)
        ).scalar_one()


class Runs:
    """Thread-safe count of handler runs per job."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def add(self, job_id: str) -> None:
        with self.lock:
            self.counts[job_id] += 1


def run_until_done(runners: list[JobRunner], ids: list[str], deadline: float = 30.0) -> None:
    """Each runner polls ``run_due`` in its own thread until every job is terminal."""
    done = threading.Event()
    errors: list[BaseException] = []

    def all_terminal(runner: JobRunner) -> bool:
        return all(
            (job := runner.get(i)) is not None
            and job.state in (JobState.SUCCEEDED, JobState.FAILED)
            for i in ids
        )

    def poll(runner: JobRunner) -> None:
        try:
            stop_at = time.monotonic() + deadline
            while not done.is_set() and time.monotonic() < stop_at:
                runner.run_due()
                if all_terminal(runner):
                    done.set()
                time.sleep(0.02)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            done.set()

    threads = [threading.Thread(target=poll, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert all_terminal(runners[0]), "the jobs did not finish before the deadline"


# -- the faults of issue 9 ----------------------------------------------------------


def test_a_batch_longer_than_the_lease_runs_each_job_once(any_db: Database) -> None:
    """Claimed one at a time, a job's lease starts when it starts (8 of 12 ran twice)."""
    runs = Runs()

    def work(job: Any) -> None:
        runs.add(job.id)
        time.sleep(0.3)

    ids = add_jobs(any_db, 8)
    runners = [JobRunner(any_db, {"work": work}, lease=1.0) for _ in range(2)]
    run_until_done(runners, ids)
    assert runs.counts == Counter(dict.fromkeys(ids, 1))


def test_a_handler_longer_than_the_lease_is_not_stolen(any_db: Database) -> None:
    """The heartbeat keeps a live job's lease ahead of the database clock."""
    stolen = Runs()
    (job_id,) = add_jobs(any_db, 1)
    other = JobRunner(any_db, {"work": lambda job: stolen.add(job.id)}, lease=1.5)
    polls = 0

    def slow(job: Any) -> None:
        nonlocal polls
        started = time.monotonic()
        while time.monotonic() - started < 3.5:  # more than twice the lease
            assert other.run_due() == []
            polls += 1
            time.sleep(0.1)

    (outcome,) = JobRunner(any_db, {"work": slow}, lease=1.5).run_due()
    assert outcome.result == "succeeded" and outcome.attempts == 1
    assert stolen.counts == Counter() and polls > 0


def test_a_stuck_workers_other_jobs_are_not_held(any_db: Database) -> None:
    """Only the job that is running is leased: the rest stay claimable (not the batch)."""
    ids = add_jobs(any_db, 5)
    ran_by_other = Runs()
    other = JobRunner(any_db, {"work": lambda job: ran_by_other.add(job.id)}, lease=60)
    seen: list[list[str]] = []

    def stuck(job: Any) -> None:
        # While this worker is "hung" in its first job, another one works.
        if not seen:
            seen.append([o.job_id for o in other.run_due() if o.result == "succeeded"])

    outcomes = JobRunner(any_db, {"work": stuck}, lease=60).run_due()
    assert [(o.job_id, o.result) for o in outcomes] == [(ids[0], "succeeded")]
    assert seen == [ids[1:]]
    assert ran_by_other.counts == Counter(dict.fromkeys(ids[1:], 1))


def test_reclaims_of_a_dying_job_count_against_max_attempts(any_db: Database) -> None:
    """A job whose handler kills its worker fails once its attempts are spent."""
    (job_id,) = add_jobs(any_db, 1, max_attempts=3)
    ran = Runs()
    for attempt in (1, 2, 3):
        dying = JobRunner(any_db, {"work": lambda job: None}, lease=60)
        (claimed,) = dying.claim()  # the worker claims the job, then dies
        assert claimed.attempts == attempt
        expire_lease(any_db, job_id)
    survivor = JobRunner(any_db, {"work": lambda job: ran.add(job.id)}, lease=60)
    outcomes = survivor.run_due()
    job = survivor.get(job_id)
    assert job is not None
    assert (job.state, job.attempts) == (JobState.FAILED, 3)
    assert "lease expired 3 times" in (job.last_error or "")
    assert [(o.job_id, o.result) for o in outcomes] == [(job_id, "failed")]
    assert ran.counts == Counter()
    assert survivor.run_due() == []  # and it stays failed


def test_a_stale_claim_cannot_record_an_outcome(any_db: Database) -> None:
    """Same runner (so same worker id), two claims: only the live one records."""
    (job_id,) = add_jobs(any_db, 1)
    second_started, release = threading.Event(), threading.Event()
    calls = 0
    results: dict[str, Any] = {}

    def handler(job: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:  # the first claim: its lease runs out, the job is reclaimed
            expire_lease(any_db, job_id)
            thread = threading.Thread(target=lambda: results.update(second=runner.run_job(job_id)))
            thread.start()
            results["thread"] = thread
            assert second_started.wait(10)
        else:  # the second claim is still running when the first one returns
            second_started.set()
            assert release.wait(10)

    runner = JobRunner(any_db, {"work": handler}, lease=60)
    first = runner.run_job(job_id)
    assert first is not None and first.result == "lost"
    job = runner.get(job_id)
    assert job is not None and job.state is JobState.RUNNING  # untouched by the stale claim
    release.set()
    results["thread"].join()
    assert results["second"].result == "succeeded" and results["second"].attempts == 2
    assert runner.get(job_id).state is JobState.SUCCEEDED  # type: ignore[union-attr]


@pytest.mark.parametrize("skewed", ["claimer_behind", "poller_ahead"])
def test_a_skewed_worker_clock_does_not_steal_a_live_lease(any_db: Database, skewed: str) -> None:
    """Leases are compared on the database's clock, not the workers'."""
    minutes = dt.timedelta(minutes=10)
    (job_id,) = add_jobs(any_db, 1)

    def clock_off_by(delta: dt.timedelta) -> Callable[[], dt.datetime]:
        return lambda: utcnow() + delta

    holder_clock = clock_off_by(-minutes if skewed == "claimer_behind" else dt.timedelta())
    poller_clock = clock_off_by(minutes if skewed == "poller_ahead" else dt.timedelta())
    holder = JobRunner(any_db, {"work": lambda job: None}, lease=60, clock=holder_clock)
    ran = Runs()
    poller = JobRunner(any_db, {"work": lambda job: ran.add(job.id)}, lease=60, clock=poller_clock)
    (claimed,) = holder.claim()
    token = token_of(any_db, job_id)
    assert poller.run_due() == []
    assert ran.counts == Counter()
    assert token_of(any_db, job_id) == token


# -- the lease itself ---------------------------------------------------------------


def locked_until(db: Database, job_id: str) -> dt.datetime | None:
    with db.read() as conn:
        return conn.execute(  # type: ignore[no-any-return]
            select(jobs_table.c.locked_until).where(jobs_table.c.id == job_id)
        ).scalar_one()


def test_the_lease_is_renewed_and_a_taken_over_claim_learns_it_lost(any_db: Database) -> None:
    (job_id,) = add_jobs(any_db, 1)
    other = JobRunner(any_db, {"work": lambda job: None}, lease=60)
    seen: dict[str, Any] = {}

    def handler(job: Any) -> None:
        lease = current_lease()
        assert lease is not None and lease.job_id == job_id
        before = locked_until(any_db, job_id)
        time.sleep(0.05)
        assert lease.renew()
        after = locked_until(any_db, job_id)
        assert before is not None and after is not None and after > before
        lease.check()  # still ours
        expire_lease(any_db, job_id)
        (taken,) = other.claim()  # another worker claims the job (a new token)
        seen["renewed"] = lease.renew()
        seen["lost"] = lease.lost
        with pytest.raises(LeaseLost):
            lease.check()

    (outcome,) = JobRunner(any_db, {"work": handler}, lease=60).run_due()
    assert seen == {"renewed": False, "lost": True}
    assert outcome.result == "lost"
    assert current_lease() is None
    job = other.get(job_id)
    assert job is not None and job.state is JobState.RUNNING and job.attempts == 2


def test_the_claim_is_checked_before_the_handler_runs(
    any_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim taken over between claiming and starting never runs its handler."""
    (job_id,) = add_jobs(any_db, 1)
    ran = Runs()
    runner = JobRunner(any_db, {"work": lambda job: ran.add(job.id)}, lease=60)
    other = JobRunner(any_db, {"work": lambda job: None}, lease=60)
    claim = runner._claim  # noqa: SLF001 - the seam between claiming and running

    def claim_then_stall(limit: int, job_id: str | None) -> Any:
        claims, failed = claim(limit, job_id)
        for c in claims:  # the worker stalls here; its lease runs out; the job moves on
            expire_lease(any_db, c.job.id)
            assert [j.id for j in other.claim()] == [c.job.id]
        return claims, failed

    monkeypatch.setattr(runner, "_claim", claim_then_stall)
    (outcome,) = runner.run_due(limit=1)
    assert (outcome.job_id, outcome.result) == (job_id, "lost")
    assert ran.counts == Counter()


def test_a_handler_that_kills_its_thread_stops_the_heartbeat(any_db: Database) -> None:
    """BaseException (Ctrl-C) propagates; no heartbeat keeps the job alive after it."""
    (job_id,) = add_jobs(any_db, 1)

    def interrupted(job: Any) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        JobRunner(any_db, {"work": interrupted}, lease=60).run_due()
    assert not [t for t in threading.enumerate() if t.name.startswith("rindle-lease-")]
    assert current_lease() is None
    job = JobRunner(any_db, {}).get(job_id)
    assert job is not None and job.state is JobState.RUNNING  # until its lease runs out


def test_lease_expiries_in_a_row_are_counted_in_last_error(any_db: Database) -> None:
    """Each reclaim of a stale job records how many leases in a row ran out."""
    (job_id,) = add_jobs(any_db, 1, max_attempts=10)
    dying = JobRunner(any_db, {}, lease=60)
    dying.claim()
    expire_lease(any_db, job_id)
    dying.claim()
    expire_lease(any_db, job_id)
    dying.claim()
    job = dying.get(job_id)
    assert job is not None and job.attempts == 3
    assert (job.last_error or "").startswith("LeaseExpired: lease expired 2 times in a row")
