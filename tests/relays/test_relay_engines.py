"""The Dramatiq, RQ, arq and procrastinate relays against their real workers.

Each runs the shared scenario (``relay_harness.run_scenario``) with 500
uploads, as Celery does. The Redis engines run on a redis-server of the test's own, restarted
mid-run; Dramatiq also runs on the shared RabbitMQ (a queue of its own, not
restarted); procrastinate runs on PostgreSQL, which is shared and never
restarted.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from relay_harness import Engine, RedisServer, RelayEnv, python_argv, run_scenario
from relay_worker_support import make_broker

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

UPLOADS = 500
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/%2F"
BIN = Path(sys.executable).parent


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def _queue() -> str:
    return f"rindle-test-{secrets.token_hex(4)}"


def _dramatiq(url: str, restart: RedisServer | None) -> Engine:
    pytest.importorskip("dramatiq")
    from relay_app_dramatiq import engine_broker

    from rindle_core.relays.dramatiq import DramatiqRelay

    queue = _queue()
    return Engine(
        name="dramatiq",
        make_relay=lambda: DramatiqRelay(engine_broker(url, queue), queue=queue),
        worker_argv=lambda i: python_argv(
            "-m",
            "dramatiq",
            "relay_app_dramatiq",
            "--processes",
            "1",
            "--threads",
            "1",
            "--queues",
            queue,
        ),  # fmt: skip
        env={"RELAY_TEST_BROKER_URL": url, "RELAY_TEST_QUEUE": queue},
        restart=restart.restart if restart is not None else None,
    )


def test_dramatiq_on_redis(relay_env: RelayEnv, redis_server: RedisServer, tmp_path: Path) -> None:
    run_scenario(relay_env, _dramatiq(redis_server.url, redis_server), UPLOADS, tmp_path)


def test_dramatiq_on_rabbitmq(relay_env: RelayEnv, tmp_path: Path) -> None:
    engine = _dramatiq(RABBITMQ, None)
    try:
        run_scenario(relay_env, engine, UPLOADS, tmp_path)
    finally:
        import pika

        queue = engine.env["RELAY_TEST_QUEUE"]
        with pika.BlockingConnection(pika.URLParameters(RABBITMQ)) as conn:
            channel = conn.channel()
            for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
                channel.queue_delete(name)


def test_rq_on_redis(relay_env: RelayEnv, redis_server: RedisServer, tmp_path: Path) -> None:
    pytest.importorskip("rq")
    from redis import Redis

    from rindle_core.relays.rq import RQRelay

    queue = _queue()
    engine = Engine(
        name="rq",
        make_relay=lambda: RQRelay(
            Redis.from_url(redis_server.url), queue=queue, rindle_broker=make_broker
        ),
        worker_argv=lambda i: [
            str(BIN / "rq"),
            "worker",
            "--url",
            redis_server.url,
            "--with-scheduler",
            "--worker-class",
            "rq.worker.SimpleWorker",
            "--name",
            f"w{i}-{queue}",
            queue,
        ],  # fmt: skip
        restart=redis_server.restart,
    )
    run_scenario(relay_env, engine, UPLOADS, tmp_path)


def test_arq_on_redis(relay_env: RelayEnv, redis_server: RedisServer, tmp_path: Path) -> None:
    pytest.importorskip("arq")
    from arq.connections import RedisSettings

    from rindle_core.relays.arq import ArqRelay

    queue = _queue()
    relays: list[ArqRelay] = []

    def make_relay() -> ArqRelay:
        relay = ArqRelay(RedisSettings(host="127.0.0.1", port=redis_server.port), queue=queue)
        relays.append(relay)
        return relay

    engine = Engine(
        name="arq",
        make_relay=make_relay,
        worker_argv=lambda i: [str(BIN / "arq"), "relay_app_arq.WorkerSettings"],
        env={"RELAY_TEST_REDIS_PORT": str(redis_server.port), "RELAY_TEST_QUEUE": queue},
        restart=redis_server.restart,
    )
    try:
        run_scenario(relay_env, engine, UPLOADS, tmp_path)
    finally:
        for relay in relays:
            relay.close()


def test_procrastinate_on_postgres(relay_env: RelayEnv, postgres_url: str, tmp_path: Path) -> None:
    pytest.importorskip("procrastinate")
    from relay_app_procrastinate import make_app

    from rindle_core.relays.procrastinate import ProcrastinateRelay

    conninfo = sa.make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    queue = _queue()
    apps = []

    def make_relay() -> ProcrastinateRelay:
        app = make_app(conninfo, relay_env.schema)
        relay = ProcrastinateRelay(app, queue=queue)
        app.open()
        apps.append(app)
        return relay

    first = make_app(conninfo, relay_env.schema).open()
    try:
        first.schema_manager.apply_schema()
    finally:
        first.close()
    engine = Engine(
        name="procrastinate",
        make_relay=make_relay,
        worker_argv=lambda i: [
            str(BIN / "procrastinate"),
            "--app=relay_app_procrastinate.app",
            "worker",
            f"--queues={queue}",
            "--concurrency=1",
        ],  # fmt: skip
        env={
            "RELAY_TEST_CONNINFO": conninfo,
            "RELAY_TEST_SCHEMA": relay_env.schema,
            "RELAY_TEST_QUEUE": queue,
        },
    )
    try:
        run_scenario(relay_env, engine, UPLOADS, tmp_path)
    finally:
        for app in apps:
            app.close()
