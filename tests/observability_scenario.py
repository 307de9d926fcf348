"""The lifecycle the OpenTelemetry and Prometheus tests observe (a helper module, no tests).

On one broker in worker mode: a PNG uploaded, verified and promoted by the
job; a resumable session polled and cancelled; a session signed and
abandoned, then expired; a verify refused (the cancelled session).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any

import pluggy
import pytest

from fakes import PNG, MemoryStorage, broker_factory
from rindle_core import Database, InvalidTransition


def run_lifecycle(database: Database, pm: pluggy.PluginManager) -> dict[str, Any]:
    """Run the scenario; the sessions and the secrets handed out along the way."""
    memory = MemoryStorage()
    broker = broker_factory(database, memory, pm)(job_mode="worker")
    put = broker.initiate_session(
        "images", filename="cat.png", content_type="image/png", size=len(PNG)
    )
    signed = broker.sign_url(put.id).presigned
    memory.client_put(put.storage_key, PNG, "image/png")
    broker.verify_completion(put.id)
    broker.run_jobs()
    resumable = broker.initiate_resumable_session(
        "any", filename="v.bin", content_type="application/octet-stream"
    )
    broker.resumable_session_status(resumable.session.id)
    broker.cancel_resumable_session(resumable.session.id)
    abandoned = broker.initiate_session("any", filename="b.txt", content_type="text/plain")
    broker.sign_url(abandoned.id)
    with pytest.raises(InvalidTransition):
        broker.verify_completion(resumable.session.id)  # refused: it was cancelled
    broker.expire_sessions(now=abandoned.expires_at + dt.timedelta(days=2))
    return {
        "broker": broker,
        "put": put,
        "resumable": resumable,
        "abandoned": abandoned,
        "url": signed.url,
        "signature": urllib.parse.parse_qs(urllib.parse.urlsplit(signed.url).query)["sig"][0],
        "session_uri": resumable.resumable.session_uri,
        "bytes": len(PNG),
    }


#: Strings no exported span, metric or scrape may contain (besides the run's own secrets).
SECRET_MARKERS = ("memory://", "sig=")
