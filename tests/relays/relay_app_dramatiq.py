"""The Dramatiq broker and actor a relay test's workers run (``dramatiq relay_app_dramatiq``)."""

from __future__ import annotations

import os
from typing import Any

import dramatiq
from relay_worker_support import make_broker

from rindle_core.relays.dramatiq import DramatiqRelay


def engine_broker(url: str, queue: str) -> Any:
    """A Redis broker (namespaced by the queue) or a RabbitMQ broker, by URL."""
    if url.startswith("redis"):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url, namespace=f"dramatiq-{queue}")
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    return RabbitmqBroker(url=url)


if "RELAY_TEST_BROKER_URL" in os.environ:  # in a worker (the test imports engine_broker only)
    broker = engine_broker(os.environ["RELAY_TEST_BROKER_URL"], os.environ["RELAY_TEST_QUEUE"])
    dramatiq.set_broker(broker)
    relay = DramatiqRelay(broker, queue=os.environ["RELAY_TEST_QUEUE"], rindle_broker=make_broker)
