"""The Celery app a relay test's workers run (``celery -A relay_app_celery worker``)."""

from __future__ import annotations

import os

from celery import Celery
from relay_worker_support import make_broker

from rindle_core.relays.celery import CeleryRelay

app = Celery("rindle_relay_test", broker=os.environ["RELAY_TEST_BROKER_URL"])
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
)
relay = CeleryRelay(app, queue=os.environ["RELAY_TEST_QUEUE"], rindle_broker=make_broker)
