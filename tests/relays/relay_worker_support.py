"""What the engine workers started by the relay tests import (not a test module).

Each worker process builds its rindle broker from ``$RINDLE_CONFIG`` with a
ledger plugin: every promotion's inspection (``inspect``) and every asset
that became ``available`` is a row in ``relay_ledger``, written by the
process that did it. A file named ``slow-*`` is inspected slowly the first
time, so the test can kill its worker mid-job.
"""

from __future__ import annotations

import os
import time
from typing import Any

import sqlalchemy as sa

from rindle_core import Broker, Database, hookimpl
from rindle_core.config import load_config
from rindle_core.plugins import make_plugin_manager

LEDGER_DDL = (
    "CREATE TABLE relay_ledger (id serial PRIMARY KEY, asset_id text NOT NULL, "
    "event text NOT NULL, pid integer NOT NULL)"
)


class Ledger:
    """Records promotions' inspections and effects in ``relay_ledger``."""

    def __init__(self, database: Database, slow_seconds: float) -> None:
        self._db = database
        self._slow = slow_seconds

    def _log(self, asset_id: str, event: str) -> int:
        with self._db.transaction() as conn:
            conn.execute(
                sa.text("INSERT INTO relay_ledger (asset_id, event, pid) VALUES (:a, :e, :p)"),
                {"a": asset_id, "e": event, "p": os.getpid()},
            )
            return int(
                conn.execute(
                    sa.text("SELECT count(*) FROM relay_ledger WHERE asset_id = :a AND event = :e"),
                    {"a": asset_id, "e": event},
                ).scalar_one()
            )

    @hookimpl
    def rindle_inspect_upload(self, asset: Any, head: Any, sample: bytes) -> str | None:
        seen = self._log(asset.id, "inspect")
        if asset.filename.startswith("slow") and seen == 1:
            time.sleep(self._slow)  # the test kills this worker meanwhile
        return None

    @hookimpl
    def rindle_asset_transitioned(self, asset: Any, from_state: str, to_state: str) -> None:
        if to_state == "available":
            self._log(asset.id, "available")


def make_broker() -> Broker:
    """The broker a worker runs jobs with: ``$RINDLE_CONFIG`` plus the ledger."""
    config = load_config(os.environ["RINDLE_CONFIG"])
    pm = make_plugin_manager(load_entrypoints=False)
    ledger_db = Database(config.database_url)
    pm.register(Ledger(ledger_db, float(os.environ.get("RELAY_TEST_SLOW", "60"))))
    return config.build_broker(plugin_manager=pm)
