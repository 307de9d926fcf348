"""The arq worker settings of a relay test's workers (``arq relay_app_arq.WorkerSettings``)."""

from __future__ import annotations

import os

from arq.connections import RedisSettings
from relay_worker_support import make_broker

from rindle_core.relays.arq import ArqRelay

relay = ArqRelay(
    RedisSettings(host="127.0.0.1", port=int(os.environ.get("RELAY_TEST_REDIS_PORT", "6379"))),
    queue=os.environ.get("RELAY_TEST_QUEUE", "rindle"),
    rindle_broker=make_broker,
)


class WorkerSettings:
    functions = relay.functions
    queue_name = relay.queue
    redis_settings = relay.redis_settings
    max_jobs = 1
