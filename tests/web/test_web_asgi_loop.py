"""The ASGI mount never blocks the event loop: broker calls run in worker threads.

200 concurrent downloads whose storage call takes :data:`SLOW` seconds run
beside a trivial ``/ping`` on the same loop; the ping keeps answering in a
fraction of :data:`SLOW`. A control endpoint that makes the same storage call
on the loop shows that the measurement does see a blocked loop.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from fakes import PNG, MemoryStorage
from rindle_core import Broker, PresignedRequest
from rindle_core.web import UploadAPI
from rindle_core.web.asgi import create_app
from web_support import mount

#: How long the slow storage takes to sign a download.
SLOW = 0.25
REQUESTS = 200
#: The pinger's pause between pings.
PAUSE = 0.01


class SlowStorage(MemoryStorage):
    """The memory fake, whose signed GET takes :data:`SLOW` seconds (a slow backend)."""

    def presign_get(self, key: str, **kwargs: Any) -> PresignedRequest:
        time.sleep(SLOW)
        return super().presign_get(key, **kwargs)


async def _ping(request: StarletteRequest) -> PlainTextResponse:
    return PlainTextResponse("pong")


async def _measure(app: Starlette, path: str, count: int) -> tuple[list[float], list[int], float]:
    """Send *count* concurrent GETs of *path* while pinging: how long each ping kept
    the pinger waiting beyond its pause, the GETs' statuses, and how long they took."""
    latencies: list[float] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        finished = asyncio.Event()

        async def pinger() -> None:
            # A ping's latency, plus how late the loop woke from the pause after it.
            while not finished.is_set():
                started = time.perf_counter()
                assert (await http.get("/ping")).text == "pong"
                await asyncio.sleep(PAUSE)
                latencies.append(time.perf_counter() - started - PAUSE)

        async def call() -> int:
            return (await http.get(path, headers={"X-User": "alice"})).status_code

        pinging = asyncio.create_task(pinger())
        await asyncio.sleep(0)
        started = time.perf_counter()
        statuses = await asyncio.gather(*(call() for _ in range(count)))
        elapsed = time.perf_counter() - started
        finished.set()
        await pinging
    return latencies, list(statuses), elapsed


@pytest.fixture
def slow() -> SlowStorage:
    return SlowStorage()


@pytest.fixture
def slow_api(
    make_broker: Callable[..., Broker], slow: SlowStorage, authorize: Callable
) -> UploadAPI:
    return UploadAPI(make_broker(storages={"mem": slow}), authorize=authorize)


@pytest.fixture
def download_path(slow_api: UploadAPI, slow: SlowStorage) -> str:
    """The download route of an available upload."""
    with mount("neutral", slow_api) as client:
        body = {"profile": "images", "filename": "cat.png", "content_type": "image/png"}
        session = client.post("/uploads", body).json()["session"]
        slow.client_put(session["storage_key"], PNG, "image/png")
        assert client.post(f"/uploads/{session['id']}/complete").status == 200
    return f"/api/uploads/uploads/{session['id']}/download"


def test_the_loop_answers_while_200_slow_broker_calls_run(
    slow_api: UploadAPI, download_path: str
) -> None:
    app = Starlette(routes=[Route("/ping", _ping), Mount("/api/uploads", app=create_app(slow_api))])
    latencies, statuses, elapsed = asyncio.run(_measure(app, download_path, REQUESTS))
    assert statuses == [200] * REQUESTS
    # The calls ran side by side in the worker threads (on the loop they would
    # take REQUESTS * SLOW), and all the while the ping kept answering: only the
    # loop's own work of taking 200 requests in delays a ping (once, at the start).
    assert elapsed < REQUESTS * SLOW / 4, elapsed
    assert len(latencies) >= 10, latencies
    assert statistics.median(latencies) < SLOW / 10, latencies
    assert statistics.quantiles(latencies, n=10)[-1] < SLOW / 4, latencies


def test_the_measurement_sees_a_blocked_loop(slow: SlowStorage) -> None:
    """The control: the same storage call made on the loop stalls the ping."""

    async def blocking(request: StarletteRequest) -> PlainTextResponse:
        slow.presign_get("some/key", expires_in=60)  # on the loop: what the mount never does
        return PlainTextResponse("done")

    app = Starlette(routes=[Route("/ping", _ping), Route("/blocking", blocking)])
    latencies, statuses, elapsed = asyncio.run(_measure(app, "/blocking", 4))
    assert statuses == [200] * 4
    assert elapsed >= 4 * SLOW  # one after the other
    assert max(latencies) >= SLOW * 0.9, latencies
