"""Several OS processes run one PostgreSQL queue: every job runs exactly once.

Each worker is a separate ``python -c`` process with its own JobRunner whose
lease (2 s) is shorter than every job's work (3 s), so only the heartbeat
keeps a running job from being claimed again. Handlers log each start and
end in a table of their own; the assertions read that log, never timings.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from rindle_core import Database, JobRunner, JobState
from rindle_core.adapters import utcnow
from rindle_core.jobs import enqueue

pytestmark = pytest.mark.postgres

LEASE = 2.0
WORK = 3.0

WORKER = r"""
import os, sys, time
import sqlalchemy as sa
from rindle_core import Database, JobRunner

url, schema, mode, lease, work = sys.argv[1:6]
db = Database(url, connect_args={"options": f"-csearch_path={schema}"})
pid = os.getpid()

def log(job_id, event):
    with db.transaction() as conn:
        conn.execute(
            sa.text("INSERT INTO job_runs (job_id, pid, event) VALUES (:j, :p, :e)"),
            {"j": job_id, "p": pid, "e": event},
        )

def handler(job):
    log(job.id, "start")
    time.sleep(3600 if mode == "hang" else float(work))
    log(job.id, "end")

runner = JobRunner(db, {"work": handler}, lease=float(lease))
print("ready", flush=True)
sys.stdin.readline()  # wait for the test's "go"
stop_at = time.monotonic() + 60
while time.monotonic() < stop_at:
    runner.run_due()
    with db.read() as conn:
        left = conn.execute(
            sa.text("SELECT count(*) FROM rindle_jobs WHERE state IN ('pending', 'running')")
        ).scalar_one()
    if left == 0:
        sys.exit(0)
    time.sleep(0.05)
sys.exit(3)
"""


@pytest.fixture
def queue(postgres_db: Database, postgres_url: str) -> tuple[Database, list[str]]:
    """The schema's URL and name (for the worker processes) and a run log table."""
    with postgres_db.transaction() as conn:
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
        conn.execute(
            sa.text(
                "CREATE TABLE job_runs (id serial PRIMARY KEY, job_id text NOT NULL, "
                "pid integer NOT NULL, event text NOT NULL)"
            )
        )
    return postgres_db, [postgres_url, schema]


def add_jobs(db: Database, count: int) -> list[str]:
    start = utcnow() - dt.timedelta(minutes=1)
    with db.transaction() as conn:
        ids = [
            enqueue(
                conn,
                kind="work",
                payload={},
                dedupe_key=f"mp{i}",
                now=start + dt.timedelta(milliseconds=i),
            )
            for i in range(count)
        ]
    assert all(ids)
    return [i for i in ids if i is not None]


def spawn(target: list[str], mode: str = "work") -> subprocess.Popen[bytes]:
    """A worker process; it starts polling when :func:`go` tells it to."""
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, *target, mode, str(LEASE), str(WORK)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def go(*procs: subprocess.Popen[bytes]) -> None:
    """Start the workers' loops together, once all of them have imported rindle."""
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n", "a worker failed to start"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.flush()


def finish(procs: list[subprocess.Popen[bytes]]) -> None:
    """Let the workers go and wait until they exit, successfully."""
    try:
        go(*procs)
        for proc in procs:
            _, err = proc.communicate(timeout=90)
            assert proc.returncode == 0, err.decode()[-2000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def run_log(db: Database) -> list[tuple[str, int, str]]:
    with db.read() as conn:
        rows = conn.execute(sa.text("SELECT job_id, pid, event FROM job_runs ORDER BY id"))
        return [(r.job_id, r.pid, r.event) for r in rows]


def wait_for_start(db: Database, proc: subprocess.Popen[bytes]) -> list[tuple[str, int, str]]:
    """The run log rows of *proc* once it has started a job."""
    deadline = time.monotonic() + 60
    while not (started := [r for r in run_log(db) if r[1] == proc.pid]):
        assert proc.poll() is None, "the worker exited before starting a job"
        assert time.monotonic() < deadline, "the worker never started a job"
        time.sleep(0.05)
    return started


def test_three_processes_run_every_job_exactly_once(queue: tuple[Database, list[str]]) -> None:
    db, target = queue
    ids = add_jobs(db, 6)
    finish([spawn(target) for _ in range(3)])
    log = run_log(db)
    assert Counter((job, event) for job, _, event in log) == Counter(
        {(job, event): 1 for job in ids for event in ("start", "end")}
    )
    jobs = JobRunner(db, {}).list(limit=100)
    assert {(j.id, j.state, j.attempts) for j in jobs} == {(i, JobState.SUCCEEDED, 1) for i in ids}


def test_a_job_whose_worker_is_killed_runs_once_elsewhere(
    queue: tuple[Database, list[str]],
) -> None:
    db, target = queue
    ids = add_jobs(db, 4)
    doomed = spawn(target, mode="hang")
    finishers = [spawn(target) for _ in range(2)]  # importing meanwhile, held until go
    try:
        go(doomed)
        started = wait_for_start(db, doomed)
        os.kill(doomed.pid, signal.SIGKILL)  # mid-job: no cleanup, no outcome recorded
        doomed.wait(10)
    except BaseException:
        for proc in finishers:
            proc.kill()
            proc.wait()
        raise
    finally:
        if doomed.poll() is None:
            doomed.kill()
        doomed.communicate()
    ((victim, _, _),) = started
    finish(finishers)

    log = run_log(db)
    ends = Counter(job for job, _, event in log if event == "end")
    starts = Counter(job for job, _, event in log if event == "start")
    assert ends == Counter(dict.fromkeys(ids, 1))
    assert starts == Counter({**dict.fromkeys(ids, 1), victim: 2})
    (finisher,) = {pid for job, pid, event in log if job == victim and event == "end"}
    assert finisher != doomed.pid
    jobs = {j.id: j for j in JobRunner(db, {}).list(limit=100)}
    assert all(j.state is JobState.SUCCEEDED for j in jobs.values())
    assert {i: j.attempts for i, j in jobs.items()} == {
        **dict.fromkeys(ids, 1),
        victim: 2,
    }
