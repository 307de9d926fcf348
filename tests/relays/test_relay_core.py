"""The relay mechanism without an engine: isolation, the sweep, the task body, the CLI.

The engines themselves are tested with their real workers in the other
modules of this directory; here a relay is a ``Relay`` whose ``send`` keeps
what it was handed, and the database is each of SQLite, PostgreSQL, MariaDB.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fakes import PNG, MemoryStorage
from rindle_core import Broker, ConfigurationError, Database, JobRunner, JobState, hookimpl
from rindle_core.adapters import utcnow
from rindle_core.db import jobs_table
from rindle_core.jobs import PermanentJobError, enqueue
from rindle_core.relays import (
    Relay,
    dispatch_job,
    redispatch_stale,
    require_extra,
    run_relayed,
)

HOUR = dt.timedelta(hours=1)


class Keeping(Relay):
    """A relay whose engine is a list: what it was handed, with the delay."""

    engine = "list"

    def __init__(self, broker: Broker | None = None, *, fail: bool = False) -> None:
        super().__init__(rindle_broker=(lambda: broker) if broker is not None else None)  # type: ignore[arg-type,return-value]
        self.sent: list[tuple[str, float]] = []
        self.fail = fail

    def send(self, job_id: str, *, delay: float = 0.0) -> None:
        if self.fail:
            raise ConnectionError("amqp://user:s3cret@host: refused")
        self.sent.append((job_id, delay))


def _job(database: Database, *, run_at: dt.datetime | None = None, kind: str = "k") -> str:
    now = utcnow()
    with database.transaction() as conn:
        job_id = enqueue(
            conn, kind=kind, payload={}, dedupe_key=f"{kind}:{now.timestamp()}:{id(conn)}",
            now=now, run_at=run_at,
        )  # fmt: skip
    assert job_id is not None
    return job_id


def _age(database: Database, job_id: str, by: dt.timedelta) -> None:
    """Make the job's times *by* older, as if it had been enqueued then."""
    with database.transaction() as conn:
        row = conn.execute(sa.select(jobs_table).where(jobs_table.c.id == job_id)).one()
        conn.execute(
            sa.update(jobs_table)
            .where(jobs_table.c.id == job_id)
            .values(run_at=row.run_at - by, updated_at=row.updated_at - by)
        )


# -- one failing relay never stops another ---------------------------------------------


def test_a_failing_relay_never_stops_another(
    make_broker: Callable[..., Broker],
    memory: MemoryStorage,
    pm: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken, kept = Keeping(fail=True), Keeping()
    pm.register(broken, name="broken-relay")
    pm.register(kept, name="kept-relay")
    broker = make_broker(job_mode="worker")
    session = broker.initiate_session(
        "images", filename="a.png", content_type="image/png", size=len(PNG)
    )
    broker.sign_url(session.id)
    memory.client_put(session.storage_key, PNG, "image/png")
    with caplog.at_level(logging.WARNING, logger="rindle"):
        broker.verify_completion(session.id)
    (job,) = broker.jobs.list()
    assert [job_id for job_id, _ in kept.sent] == [job.id]
    failed = [
        r for r in caplog.records if getattr(r, "rindle_event", "") == "rindle.dispatch.failed"
    ]
    assert len(failed) == 1
    assert failed[0].rindle_fields == {  # type: ignore[attr-defined]
        "job_id": job.id,
        "plugin": "broken-relay",
        "error": "ConnectionError",
    }
    assert "s3cret" not in caplog.text


def test_dispatch_job_counts_the_relays_that_took_it(any_db: Database, pm: Any) -> None:
    pm.register(Keeping(fail=True), name="a")
    pm.register(Keeping(), name="b")
    pm.register(Keeping(), name="c")
    job = JobRunner(any_db, {}).get(_job(any_db))
    assert job is not None
    assert dispatch_job(pm, job) == 2


def test_dispatch_goes_through_pluggy_so_wrappers_and_monitoring_see_it(
    sqlite_db: Database, pm: Any
) -> None:
    """Relays are called by pluggy itself (shielded), not one by one by hand."""
    seen: list[str] = []

    class Wrapping:
        @hookimpl(wrapper=True)
        def rindle_dispatch_job(self, job: Any) -> Any:
            seen.append(f"wrapper saw {job.id}")
            return (yield)

    pm.register(Keeping(fail=True), name="broken")
    kept = Keeping()
    pm.register(kept, name="kept")
    pm.register(Wrapping(), name="wrapping")
    undo = pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: seen.append(f"before {name}"),
        lambda outcome, name, impls, kwargs: seen.append(f"after {name}"),
    )
    try:
        job = JobRunner(sqlite_db, {}).get(_job(sqlite_db))
        assert job is not None
        assert dispatch_job(pm, job) == 1
        assert dispatch_job(pm, job) == 1  # shields are made once, the count is per call
    finally:
        undo()
    assert [job_id for job_id, _ in kept.sent] == [job.id, job.id]
    assert (
        seen
        == ["before rindle_dispatch_job", f"wrapper saw {job.id}", "after rindle_dispatch_job"] * 2
    )


def test_a_relay_hands_a_job_over_delayed_until_it_is_due(any_db: Database) -> None:
    relay = Keeping()
    runner = JobRunner(any_db, {})
    job = runner.get(_job(any_db, run_at=utcnow() + dt.timedelta(seconds=90)))
    assert job is not None
    relay.rindle_dispatch_job(job)
    ((job_id, delay),) = relay.sent
    assert job_id == job.id and 80 < delay <= 90


# -- the sweep ---------------------------------------------------------------------------


def test_the_sweep_hands_over_only_jobs_waiting_longer_than_the_timeout(any_db: Database) -> None:
    stale = _job(any_db)
    _age(any_db, stale, HOUR)
    fresh = _job(any_db)
    later = _job(any_db, run_at=utcnow() + HOUR)
    handed: list[str] = []
    report = redispatch_stale(any_db, lambda job: handed.append(job.id), timeout=60)
    assert handed == [stale] and report.job_ids == (stale,)
    # Stamped: the next sweep leaves it alone for another timeout.
    assert redispatch_stale(any_db, lambda job: handed.append(job.id), timeout=60).job_ids == ()
    assert handed == [stale]
    states = {j.id: j.state for j in JobRunner(any_db, {}).list()}
    assert states == {stale: JobState.PENDING, fresh: JobState.PENDING, later: JobState.PENDING}


def test_the_sweep_hands_over_a_job_whose_worker_died(any_db: Database) -> None:
    job_id = _job(any_db)
    runner = JobRunner(any_db, {}, lease=1)
    (claimed,) = runner.claim(job_id=job_id)  # claimed, never run: its worker "died"
    with any_db.transaction() as conn:  # the lease ran out long ago
        conn.execute(
            sa.update(jobs_table)
            .where(jobs_table.c.id == job_id)
            .values(locked_until=utcnow() - HOUR, updated_at=utcnow() - HOUR)
        )
    handed: list[str] = []
    assert redispatch_stale(any_db, lambda job: handed.append(job.id), timeout=60).job_ids == (
        job_id,
    )
    # The delivery reclaims it (a lease expiry costs an attempt) and runs it.
    ran: list[str] = []
    fresh = JobRunner(any_db, {"k": lambda job: ran.append(job.id)})
    assert run_relayed(fresh, job_id) is None
    assert ran == [job_id]
    done = fresh.get(job_id)
    assert done is not None and done.state is JobState.SUCCEEDED and done.attempts == 2


def test_a_running_job_with_a_live_lease_is_not_swept(any_db: Database) -> None:
    job_id = _job(any_db)
    _age(any_db, job_id, HOUR)
    JobRunner(any_db, {}, lease=3600).claim(job_id=job_id)
    assert redispatch_stale(any_db, lambda job: None, timeout=0).job_ids == ()


def test_a_dispatch_that_raises_is_counted_and_the_sweep_goes_on(any_db: Database) -> None:
    first, second = _job(any_db), _job(any_db)
    _age(any_db, first, HOUR)
    _age(any_db, second, HOUR)
    handed: list[str] = []

    def flaky(job: Any) -> None:
        if not handed:
            handed.append("boom")
            raise ConnectionError("broker down")
        handed.append(job.id)

    report = redispatch_stale(any_db, flaky, timeout=60)
    assert report.failures == 1 and report.redispatched == 2
    assert len(handed) == 2


@pytest.mark.parametrize("timeout", [-1, float("nan"), float("inf"), "60", True])
def test_a_bad_timeout_is_a_configuration_error(sqlite_db: Database, timeout: Any) -> None:
    with pytest.raises(ConfigurationError, match="re-dispatch timeout"):
        redispatch_stale(sqlite_db, lambda job: None, timeout=timeout)


# -- the engine task's body ----------------------------------------------------------------


def test_run_relayed_runs_once_and_a_duplicate_delivery_is_a_no_op(any_db: Database) -> None:
    ran: list[str] = []
    runner = JobRunner(any_db, {"k": lambda job: ran.append(job.id)})
    job_id = _job(any_db)
    assert run_relayed(runner, job_id) is None
    assert run_relayed(runner, job_id) is None  # the second delivery
    assert ran == [job_id]


def test_run_relayed_asks_to_be_handed_over_again_for_a_retry_or_a_job_not_due(
    any_db: Database,
) -> None:
    def fails(job: Any) -> None:
        raise ConnectionError("transient")

    runner = JobRunner(any_db, {"k": fails}, backoff_base=30)
    retried = _job(any_db)
    wait = run_relayed(runner, retried)
    assert wait is not None and 20 < wait <= 30
    early = _job(any_db, run_at=utcnow() + HOUR)
    wait = run_relayed(runner, early)
    assert wait is not None and wait > 3000
    assert run_relayed(runner, "0" * 32) is None  # an id rindle does not know


def test_run_relayed_leaves_a_failed_job_alone(any_db: Database) -> None:
    def permanent(job: Any) -> None:
        raise PermanentJobError("no")

    runner = JobRunner(any_db, {"k": permanent})
    job_id = _job(any_db)
    assert run_relayed(runner, job_id) is None
    failed = runner.get(job_id)
    assert failed is not None and failed.state is JobState.FAILED


def test_relay_handle_runs_on_the_broker_and_sends_again_when_rescheduled(
    make_broker: Callable[..., Broker],
) -> None:
    broker = make_broker(job_mode="worker")
    relay = Keeping(broker)
    job_id = _job(broker.database, run_at=utcnow() + HOUR, kind="promote")
    relay.handle(job_id)
    ((sent, delay),) = relay.sent
    assert sent == job_id and delay > 3000


# -- extras and the command line ------------------------------------------------------------


def test_a_missing_extra_names_it() -> None:
    with pytest.raises(ConfigurationError, match=r'pip install "rindle-core\[nothing\]"'):
        require_extra("rindle_no_such_engine", "nothing")


@pytest.mark.parametrize(
    ("module", "engine", "extra", "args"),
    [
        ("celery", "celery", "celery", (object(),)),
        ("dramatiq", "dramatiq", "dramatiq", ()),
        ("rq", "rq", "rq", (object(),)),
        ("procrastinate", "procrastinate", "procrastinate", (object(),)),
        ("arq", "arq.worker", "arq", ()),
    ],
)
def test_each_relay_without_its_engine_names_its_extra(
    monkeypatch: pytest.MonkeyPatch, module: str, engine: str, extra: str, args: tuple[Any, ...]
) -> None:
    import importlib

    relays = importlib.import_module(f"rindle_core.relays.{module}")
    (cls,) = [getattr(relays, name) for name in relays.__all__ if name.endswith("Relay")]
    monkeypatch.setitem(sys.modules, engine, None)  # as if it were not installed
    with pytest.raises(ConfigurationError, match=rf'pip install "rindle-core\[{extra}\]"'):
        cls(*args)


class _Recorder:
    def __init__(self) -> None:
        self.ids: list[str] = []

    @hookimpl
    def rindle_dispatch_job(self, job: Any) -> None:
        self.ids.append(job.id)


RECORDER = _Recorder()


def test_cli_sweep_dispatches_through_the_named_relay(
    run: Callable[..., Any], tmp_path: Path
) -> None:
    (tmp_path / "rindle.toml").write_text(
        'database_url = "sqlite:///r.db"\njob_mode = "worker"\n'
        '[storage.files]\ntype = "local"\nroot = "o"\n[profiles.p]\nstorage = "files"\n'
    )
    database = Database(f"sqlite:///{tmp_path / 'r.db'}")
    database.upgrade()
    stale = _job(database)
    _age(database, stale, HOUR)
    _job(database)
    database.dispose()
    result = run("relay", "sweep", "--relay", f"{__name__}:RECORDER", "--timeout", "60", "--json")
    assert json.loads(result.stdout) == {"redispatched": [stale], "failures": 0}
    assert RECORDER.ids == [stale]
    again = run("relay", "sweep", "--relay", f"{__name__}:RECORDER", "--timeout", "60")
    assert "0 job(s) re-dispatched" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no relay to dispatch to"),
        (("--relay", "no_such_module_h5:relay"), "cannot import 'no_such_module_h5'"),
        (("--relay", "json"), "expected MODULE:ATTRIBUTE"),
        (("--relay", "json:nothing"), "json has no 'nothing'"),
    ],
)
def test_cli_sweep_refuses_a_missing_relay(
    run: Callable[..., Any], args: tuple[str, ...], message: str
) -> None:
    result = run("relay", "sweep", *args, code=2, env={"RINDLE_LOAD_PLUGINS": ""})
    assert message in result.stderr and "Traceback" not in result.output
