"""Promotions per second: ``rindle worker`` vs the Celery relay on Redis, same handler.

Run: ``python benchmarks/bench_relay.py [--rounds 5] [--jobs 200]
[--postgres-url URL] [--markdown results.md]``

Both sides promote the same kind of uploads (a small PNG in ``local``
storage, PostgreSQL for the rows) with rindle's own promotion handler, one
worker process each:

* **rindle worker**: ``rindle worker --interval 0.05`` polling its database,
  as an app without a job engine runs it;
* **Celery relay**: one ``celery worker --pool=solo`` on a ``redis-server``
  started for the run, whose task is ``CeleryRelay``'s (``run_job`` by id
  under rindle's claim); the benchmark hands it the job ids, as the broker
  does after each commit.

Each side has a PostgreSQL schema and a storage root of its own, and its
worker runs throughout. A round prepares N uploads per side (initiate, sign,
object written, verify: untimed, by a broker whose clock runs a day ahead,
so no promotion is due meanwhile), sets every job's ``run_at`` to one
instant, and times from that instant until every asset is ``available``
(the benchmark polls the count every 20 ms). The Celery side's time
includes handing the N ids to Redis. Rounds interleave the sides
(alternating which goes first); medians are reported. Nothing here is
asserted in the test suite: timings are noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from rindle_core import Broker
from rindle_core.config import load_config
from rindle_core.plugins import make_plugin_manager

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
CELERY_APP = """
import os
from celery import Celery
from rindle_core.relays.celery import CeleryRelay

app = Celery("rindle_bench", broker=os.environ["BENCH_REDIS_URL"])
app.conf.update(worker_prefetch_multiplier=4, worker_hijack_root_logger=False)
relay = CeleryRelay(app, queue="rindle-bench")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def schema(postgres_url: str, tmp: Path, name: str) -> Iterator[Path]:
    """A schema with rindle's tables and a rindle.toml on it (dropped afterwards)."""
    token = f"rindle_bench_{name}_{secrets.token_hex(4)}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{token}"'))
    url = f"{postgres_url}?options=-csearch_path%3D{token}"
    config = tmp / f"{name}.toml"
    config.write_text(
        f'database_url = "{url}"\njob_mode = "worker"\ncleanup_grace = "0s"\n'
        f'[storage.files]\ntype = "local"\nroot = "{tmp / name}"\n'
        'base_url = "http://127.0.0.1:9/"\n'
        '[profiles.images]\nstorage = "files"\nurl_ttl = "1s"\n'
    )
    try:
        from rindle_core import Database

        database = Database(url)
        database.upgrade()
        database.dispose()
        yield config
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{token}" CASCADE'))
        admin.dispose()


def preparing_broker(config_path: Path, pm: Any) -> Broker:
    """A broker whose clock runs a day ahead: the jobs it enqueues are not due
    for the running workers until :func:`prepare` sets their ``run_at``."""
    config = load_config(config_path)
    return Broker(
        config.open_database(),
        profiles=config.profiles,
        storages=config.build_storages(plugin_manager=pm),
        plugin_manager=pm,
        job_mode="worker",
        clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
    )


def prepare(broker: Broker, count: int, at: dt.datetime) -> list[str]:
    """*count* verified uploads whose promotion jobs are all due at *at*; their job ids."""
    storage = broker.storages["files"]
    for i in range(count):
        session = broker.initiate_session(
            "images", filename=f"f{i}.png", content_type="image/png", size=len(PNG)
        )
        broker.sign_url(session.id)
        storage.write_bytes(session.storage_key, PNG, content_type="image/png")  # type: ignore[attr-defined]
        broker.verify_completion(session.id)
    with broker.database.transaction() as conn:
        conn.execute(
            sa.text("UPDATE rindle_jobs SET run_at = :at WHERE state = 'pending'"), {"at": at}
        )
        ids = conn.execute(sa.text("SELECT id FROM rindle_jobs WHERE state = 'pending'"))
        return [row[0] for row in ids]


def wait_all_available(broker: Broker, total: int) -> None:
    query = sa.text("SELECT count(*) FROM rindle_assets WHERE state = 'available'")
    stop_at = time.monotonic() + 600
    while time.monotonic() < stop_at:
        with broker.database.read() as conn:
            if conn.execute(query).scalar_one() >= total:
                return
        time.sleep(0.02)
    raise RuntimeError("the promotions did not finish within 10 minutes")


def start(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "RINDLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    from celery import Celery

    from rindle_core.relays.celery import CeleryRelay

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "bench_relay_celery_app.py").write_text(CELERY_APP)
        port = free_port()
        redis = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        redis_url = f"redis://127.0.0.1:{port}/0"
        workers: list[subprocess.Popen[bytes]] = []
        try:
            with (
                schema(args.postgres_url, tmp, "worker") as worker_toml,
                schema(args.postgres_url, tmp, "celery") as celery_toml,
            ):
                base = {**os.environ, "RINDLE_LOAD_PLUGINS": "", "BENCH_REDIS_URL": redis_url}
                bin_dir = Path(sys.executable).parent
                workers.append(
                    start(
                        [
                            str(bin_dir / "rindle"),
                            "--config",
                            str(worker_toml),
                            "worker",
                            "--interval",
                            "0.05",
                        ],
                        base,
                        tmp,
                    )
                )
                workers.append(
                    start(
                        [
                            sys.executable,
                            "-m",
                            "celery",
                            "-A",
                            "bench_relay_celery_app",
                            "worker",
                            "--pool=solo",
                            "-Q",
                            "rindle-bench",
                            "--without-gossip",
                            "--without-mingle",
                            "--without-heartbeat",
                            "--loglevel=ERROR",
                        ],
                        {
                            **base,
                            "RINDLE_CONFIG": str(celery_toml),
                            "PYTHONPATH": os.pathsep.join(
                                [str(tmp), os.environ.get("PYTHONPATH", "")]
                            ),
                        },
                        tmp,
                    )
                )
                pm = make_plugin_manager(load_entrypoints=False)
                sides = {
                    "rindle worker": preparing_broker(worker_toml, pm),
                    "Celery relay": preparing_broker(celery_toml, pm),
                }
                relay = CeleryRelay(
                    Celery("rindle_bench_sender", broker=redis_url), queue="rindle-bench"
                )
                results: dict[str, list[float]] = {name: [] for name in sides}
                done = dict.fromkeys(sides, 0)
                order = list(sides)
                for round_no in range(args.rounds + 1):  # round 0 warms both workers up
                    for name in order if round_no % 2 == 0 else order[::-1]:
                        broker = sides[name]
                        at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
                        ids = prepare(broker, args.jobs, at)
                        time.sleep(max(0.0, (at - dt.datetime.now(dt.UTC)).total_seconds()))
                        began = time.perf_counter()
                        if name == "Celery relay":
                            for job_id in ids:
                                relay.send(job_id)
                        wait_all_available(broker, done[name] + len(ids))
                        elapsed = time.perf_counter() - began
                        done[name] += len(ids)
                        if round_no > 0:
                            results[name].append(len(ids) / elapsed)
                        print(f"round {round_no} {name}: {len(ids) / elapsed:.1f} promotions/s")
                for broker in sides.values():
                    broker.close()
        finally:
            for proc in workers:
                stop(proc)
            redis.terminate()
            redis.wait(timeout=20)
    medians = {name: statistics.median(values) for name, values in results.items()}
    ratio = medians["Celery relay"] / medians["rindle worker"]
    lines = [
        "## Relay: promotions per second, `rindle worker` vs the Celery relay on Redis",
        "",
        f"{args.jobs} promotions per round, {args.rounds} interleaved rounds (after one warm-up),"
        " medians; one worker process per side, PostgreSQL, local storage, rindle's own"
        " promotion handler on both sides.",
        "",
        "| side | promotions/s (median) | rounds |",
        "|---|---|---|",
        *(
            f"| {name} | {medians[name]:.1f} | {', '.join(f'{v:.1f}' for v in results[name])} |"
            for name in sides
        ),
        "",
        f"Celery relay / rindle worker: **{ratio:.2f}x**.",
        "",
        f"Machine: {platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown is not None:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
