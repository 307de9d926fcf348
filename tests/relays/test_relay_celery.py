"""The Celery relay against real Celery workers, on Redis and on RabbitMQ."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from relay_harness import Engine, RedisServer, RelayEnv, python_argv, run_scenario

celery = pytest.importorskip("celery")

from rindle_core.relays.celery import CeleryRelay  # noqa: E402

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def _engine(broker_url: str, restart: RedisServer | None) -> Engine:
    queue = f"rindle-test-{secrets.token_hex(4)}"

    def make_relay() -> CeleryRelay:
        app = celery.Celery("rindle_relay_test_sender", broker=broker_url)
        app.conf.broker_connection_timeout = 2
        return CeleryRelay(app, queue=queue)

    def argv(index: int) -> list[str]:
        return python_argv(
            "-m", "celery", "-A", "relay_app_celery", "worker", "--pool=solo",
            "--loglevel=WARNING", "-Q", queue, "-n", f"w{index}-{queue}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        )  # fmt: skip

    return Engine(
        name="celery",
        make_relay=make_relay,
        worker_argv=argv,
        env={"RELAY_TEST_BROKER_URL": broker_url, "RELAY_TEST_QUEUE": queue},
        restart=restart.restart if restart is not None else None,
    )


def test_celery_on_redis_promotes_500_uploads_once(
    relay_env: RelayEnv, redis_server: RedisServer, tmp_path: Path
) -> None:
    """500 uploads, 3 workers, one killed mid-job, Redis restarted mid-run, every job twice."""
    figures = run_scenario(relay_env, _engine(redis_server.url, redis_server), 500, tmp_path)
    assert figures["uploads"] == 500
    # Redis redelivers an unacknowledged message only after an hour, and the
    # restart dropped the queue: the sweep handed those jobs over again.
    assert figures["redispatched"] >= 1


def test_celery_on_rabbitmq_promotes_500_uploads_once(relay_env: RelayEnv, tmp_path: Path) -> None:
    """The shared RabbitMQ (a queue of the test's own, deleted after): no broker restart."""
    engine = _engine(RABBITMQ, None)
    try:
        figures = run_scenario(relay_env, engine, 500, tmp_path)
        assert figures["uploads"] == 500
    finally:
        queue = engine.env["RELAY_TEST_QUEUE"]
        app = celery.Celery("rindle_relay_test_cleanup", broker=RABBITMQ)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
