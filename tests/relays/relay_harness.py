"""The scenario every relay test runs against a real engine (shared by all engines).

N uploads (initiate → sign → the object written to local storage → verify)
are handed, through the relay registered **twice** (every job is delivered
twice), to three engine worker processes. The first upload's promotion is
slow: once it has started, its worker is SIGKILLed and a replacement
started. Optionally the engine's broker is restarted mid-run. A sweep
re-dispatches what the engine lost. The assertions read the database and
the workers' ledger, never timings: every asset promoted (``available``)
exactly once, every other promotion inspected exactly once, the killed one
inspected twice, every job ``succeeded``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa
from pg_schema import own_schema, schema_url
from relay_worker_support import LEDGER_DDL

from rindle_core import Broker, Database, JobState
from rindle_core.config import load_config
from rindle_core.plugins import make_plugin_manager
from rindle_core.relays import Relay

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
#: Seconds a claim holds a job without renewal (the killed worker's job waits this out).
LEASE = 6
#: Seconds a due job may wait in the engine before the sweep hands it over again.
SWEEP_TIMEOUT = 8.0
#: Seconds the whole scenario may take before the test fails (a hang, never a timing check).
DEADLINE = 420.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.define
class RelayEnv:
    """A PostgreSQL schema with rindle's tables and the ledger, and a rindle.toml on it."""

    database_url: str
    config_path: Path
    root: Path
    schema: str

    def database(self) -> Database:
        return Database(self.database_url)

    def worker_env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            RINDLE_CONFIG=str(self.config_path),
            RINDLE_LOAD_PLUGINS="",
            PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]),
            **extra,
        )
        return env


def make_env(postgres_url: str, tmp: Path) -> Iterator[RelayEnv]:
    """A fresh schema (dropped afterwards), migrated, with the ledger table."""
    with own_schema(postgres_url, "rindle_relay") as schema:
        url = schema_url(postgres_url, schema)
        database = Database(url)
        try:
            database.upgrade()
            with database.transaction() as conn:
                conn.execute(sa.text(LEDGER_DDL))
        finally:
            database.dispose()
        root = tmp / "objects"
        config = tmp / "rindle.toml"
        config.write_text(
            f'database_url = "{url}"\n'
            'job_mode = "worker"\n'
            f'job_lease = "{LEASE}s"\n'
            'cleanup_grace = "0s"\n'
            "[storage.files]\n"
            'type = "local"\n'
            f'root = "{root}"\n'
            'base_url = "http://127.0.0.1:9/"\n'
            "[profiles.images]\n"
            'storage = "files"\n'
            'url_ttl = "1s"\n'
        )
        yield RelayEnv(url, config, root, schema)


class Workers:
    """Engine worker processes, each in its own process group, logs in files."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self._launch: dict[int, tuple[list[str], dict[str, str]]] = {}
        self._killed: set[int] = set()
        #: Workers that exited on their own and were started again.
        self.revived = 0

    def start(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self._log_dir / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            argv, env=env, cwd=HERE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.procs.append(proc)
        self._launch[proc.pid] = (argv, env)
        return proc

    def supervise(self) -> None:
        """Start again, as systemd or a container runtime would, a worker that exited
        on its own (RQ's and arq's workers exit when their Redis goes away)."""
        for proc in list(self.procs):
            own = proc.pid in self._launch and proc.pid not in self._killed
            if own and proc.poll() is not None:
                argv, env = self._launch.pop(proc.pid)
                self.revived += 1
                self.start(argv, env)

    def kill_pid(self, pid: int) -> None:
        """SIGKILL the process (and its group, if it leads one) that ran a job."""
        for proc in self.procs:
            if proc.pid == pid:
                self._killed.add(pid)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return
        os.kill(pid, signal.SIGKILL)  # a pool's child process

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self._log_dir.glob("worker-*.log"))
        )


class RedisServer:
    """A redis-server of the test's own (never the machine's shared one), restartable."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self._tmp = tmp
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [
                "/usr/bin/redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stop_at = time.monotonic() + 30
        while time.monotonic() < stop_at:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=20)

    def restart(self) -> None:
        """Stop and start again on the same port: whatever was queued is gone."""
        self.stop()
        time.sleep(1)
        self.start()


class Sweeper:
    """Calls ``relay.sweep`` every half second in a thread (a broker outage is survived)."""

    def __init__(self, relay: Relay, timeout: float = SWEEP_TIMEOUT) -> None:
        self._relay = relay
        self._timeout = timeout
        self._stop = threading.Event()
        self.redispatched = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sweeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.redispatched += self._relay.sweep(self._timeout).redispatched
            except Exception:  # the database or the engine is briefly away: next pass
                continue


@attrs.define
class Engine:
    """How to run one engine: its test-side relay, its worker command, its broker."""

    name: str
    #: The relay the web app side registers (sending only).
    make_relay: Callable[[], Relay]
    #: The command line of one worker process, given its index.
    worker_argv: Callable[[int], list[str]]
    #: Extra environment for the workers.
    env: dict[str, str] = attrs.field(factory=dict)
    #: Restarts the engine's broker mid-run, or None where that is not tested.
    restart: Callable[[], None] | None = None


def _ledger(database: Database) -> tuple[Counter[str], Counter[str], dict[str, int]]:
    inspected: Counter[str] = Counter()
    available: Counter[str] = Counter()
    first_pid: dict[str, int] = {}
    with database.read() as conn:
        rows = conn.execute(
            sa.text("SELECT asset_id, event, pid FROM relay_ledger ORDER BY id")
        ).all()
    for asset_id, event, pid in rows:
        if event == "inspect":
            inspected[asset_id] += 1
            first_pid.setdefault(asset_id, pid)
        else:
            available[asset_id] += 1
    return inspected, available, first_pid


def _upload(broker: Broker, storage: Any, name: str) -> str:
    session = broker.initiate_session(
        "images", filename=name, content_type="image/png", size=len(PNG)
    )
    broker.sign_url(session.id)
    storage.write_bytes(session.storage_key, PNG, content_type="image/png")
    broker.verify_completion(session.id)
    return session.asset_id


def _wait(what: str, check: Callable[[], bool], workers: Workers) -> None:
    stop_at = time.monotonic() + DEADLINE
    while time.monotonic() < stop_at:
        if check():
            return
        workers.supervise()
        time.sleep(0.25)
    raise AssertionError(f"gave up waiting for {what}\n{workers.logs()}")


def run_scenario(env: RelayEnv, engine: Engine, uploads: int, log_dir: Path) -> dict[str, Any]:
    """The shared scenario; returns figures for the test to report."""
    relay = engine.make_relay()
    duplicate = engine.make_relay()  # every job is delivered twice
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(relay, name=f"relay-{engine.name}")
    pm.register(duplicate, name=f"relay-{engine.name}-again")
    config = load_config(env.config_path)
    broker = config.build_broker(plugin_manager=pm)
    relay.source.factory = lambda: broker  # the sweep reads the same database
    storage = broker.storages["files"]
    database = broker.database
    workers = Workers(log_dir)
    worker_env = env.worker_env(**engine.env)
    try:
        for index in range(3):
            workers.start(engine.worker_argv(index), worker_env)
        with Sweeper(relay) as sweeper:
            slow = _upload(broker, storage, "slow-0.png")
            with ThreadPoolExecutor(4) as pool:
                assets = [slow] + list(
                    pool.map(lambda i: _upload(broker, storage, f"f{i}.png"), range(1, uploads))
                )
            # The slow promotion started: kill its worker mid-job, start another.
            _wait("the slow promotion to start", lambda: _ledger(database)[0][slow] >= 1, workers)
            killed = _ledger(database)[2][slow]
            workers.kill_pid(killed)
            workers.start(engine.worker_argv(3), worker_env)
            if engine.restart is not None:
                _wait(
                    "a third of the promotions",
                    lambda: sum(_ledger(database)[1].values()) >= uploads // 3,
                    workers,
                )
                engine.restart()
            _wait(
                "every promotion",
                lambda: len(_ledger(database)[1]) >= uploads,
                workers,
            )
            redispatched = sweeper.redispatched
        inspected, available, _ = _ledger(database)
        jobs = broker.jobs.list(limit=uploads + 10)
    finally:
        workers.stop()
        broker.close()
    assert len(jobs) == uploads
    assert {job.state for job in jobs} == {JobState.SUCCEEDED}
    assert set(available) == set(assets) and set(available.values()) == {1}, "promoted once"
    assert inspected[slow] == 2, "the killed worker's job ran again, once"
    others = {asset: inspected[asset] for asset in assets if asset != slow}
    assert set(others.values()) == {1}, "every other promotion ran exactly once"
    with database.read() as conn:
        states = conn.execute(sa.text("SELECT state, count(*) FROM rindle_assets GROUP BY state"))
        assert dict(states.all()) == {"available": uploads}
    return {
        "uploads": uploads,
        "redispatched": redispatched,
        "killed_pid": killed,
        "revived": workers.revived,
    }


def python_argv(*args: str) -> list[str]:
    return [sys.executable, *args]
