"""Concurrency on PostgreSQL: exactly-once completion and job execution."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from fakes import PNG, MemoryStorage, etag_of
from rindle_core import (
    Broker,
    Database,
    InvalidTransition,
    JobRunner,
    SessionState,
    UploadedPart,
    hookimpl,
)
from rindle_core.adapters import utcnow
from rindle_core.db._repo import load_parts
from rindle_core.jobs import enqueue

pytestmark = pytest.mark.postgres


class CompletionCounter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.completions = 0
        self.dispatched = 0

    @hookimpl
    def rindle_session_transitioned(self, session: Any, from_state: str, to_state: str) -> None:
        if to_state == "completed":
            with self.lock:
                self.completions += 1

    @hookimpl
    def rindle_dispatch_job(self, job: Any) -> None:
        with self.lock:
            self.dispatched += 1


def test_sixteen_concurrent_verifies_complete_once(
    postgres_db: Database, memory: MemoryStorage, make_broker: Callable[..., Broker], pm: Any
) -> None:
    counter = CompletionCounter()
    pm.register(counter)
    broker = make_broker(database=postgres_db, job_mode="worker")
    session = broker.initiate_session(
        "images", filename="a.png", content_type="image/png", size=len(PNG)
    )
    broker.sign_url(session.id)
    memory.client_put(session.storage_key, PNG, "image/png")
    barrier = threading.Barrier(16)

    def verify(_: int) -> str:
        barrier.wait()
        try:
            return broker.verify_completion(session.id).session.state.value
        except InvalidTransition as exc:  # must never happen: losers converge
            return f"error:{exc}"

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(verify, range(16)))
    assert results == ["completed"] * 16
    assert counter.completions == 1
    assert counter.dispatched == 1
    jobs = broker.jobs.list()
    assert len(jobs) == 1 and jobs[0].kind == "promote"
    assert broker.get_session(session.id).state is SessionState.COMPLETED


def test_two_workers_never_run_a_job_twice(postgres_db: Database) -> None:
    runs: Counter[str] = Counter()
    lock = threading.Lock()

    def handler(job: Any) -> None:
        with lock:
            runs[job.id] += 1

    now = utcnow()
    with postgres_db.transaction() as conn:
        ids = [
            enqueue(conn, kind="count", payload={}, dedupe_key=f"count:{i}", now=now)
            for i in range(200)
        ]
    workers = [JobRunner(postgres_db, {"count": handler}) for _ in range(2)]
    barrier = threading.Barrier(2)

    def work(runner: JobRunner) -> int:
        barrier.wait()
        return len(runner.run_due(limit=1000))

    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(work, workers))
    assert sum(done) == 200
    assert set(runs) == set(ids)
    assert set(runs.values()) == {1}
    assert all(j.state.value == "succeeded" for j in workers[0].list(limit=1000))


def test_concurrent_expiry_passes_expire_each_session_once(
    postgres_db: Database, make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    import datetime as dt

    broker = make_broker(database=postgres_db)
    ids = {
        broker.initiate_session("any", filename="a", content_type="text/plain", expires_in=1).id
        for _ in range(30)
    }
    later = utcnow() + dt.timedelta(minutes=5)
    barrier = threading.Barrier(4)

    def expire(_: int) -> tuple[str, ...]:
        barrier.wait()
        return broker.expire_sessions(now=later).expired_session_ids

    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(expire, range(4)))
    expired = [sid for report in reports for sid in report]
    assert sorted(expired) == sorted(ids)


def test_concurrent_multipart_completes_complete_once(
    postgres_db: Database, memory: MemoryStorage, make_broker: Callable[..., Broker], pm: Any
) -> None:
    """Eight clients complete one upload at once: one remote completion, one ledger, one job."""
    counter = CompletionCounter()
    pm.register(counter)
    broker = make_broker(database=postgres_db, job_mode="worker")
    started = broker.initiate_multipart_session(
        "any", filename="big.bin", content_type="application/octet-stream", size=25, part_size=10
    )
    broker.sign_multipart_parts(started.session.id, [1, 2, 3])
    data = bytes(range(25))
    chunks = {n: data[(n - 1) * 10 : n * 10] for n in (1, 2, 3)}
    for n, chunk in chunks.items():
        memory.client_put_part(started.multipart.upload_id, n, chunk)
    parts = [UploadedPart(n, etag_of(chunk)) for n, chunk in chunks.items()]
    barrier = threading.Barrier(8)

    def complete(_: int) -> str:
        barrier.wait()
        return broker.complete_multipart_upload(started.session.id, parts).session.state.value

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(complete, range(8))) == ["completed"] * 8
    assert memory.objects[started.multipart.storage_key][0] == data
    assert memory.writes[started.multipart.storage_key] == 1  # one remote completion
    assert (counter.completions, counter.dispatched) == (1, 1)
    with postgres_db.read() as conn:
        assert [p.part_number for p in load_parts(conn, started.session.id)] == [1, 2, 3]
