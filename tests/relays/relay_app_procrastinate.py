"""The procrastinate app a relay test's workers run (``--app=relay_app_procrastinate.app``)."""

from __future__ import annotations

import os

import procrastinate
from relay_worker_support import make_broker

from rindle_core.relays.procrastinate import ProcrastinateRelay


def make_app(conninfo: str, schema: str) -> procrastinate.App:
    """An app on the test's schema (procrastinate's tables live there too)."""
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo, kwargs={"options": f"-csearch_path={schema}"}
    )
    return procrastinate.App(connector=connector)


app = make_app(
    os.environ.get("RELAY_TEST_CONNINFO", "postgresql://postgres@127.0.0.1:5432/test"),
    os.environ.get("RELAY_TEST_SCHEMA", "public"),
)
relay = ProcrastinateRelay(
    app, queue=os.environ.get("RELAY_TEST_QUEUE", "rindle"), rindle_broker=make_broker
)
