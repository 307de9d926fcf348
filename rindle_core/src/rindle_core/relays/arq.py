"""The arq relay (extra ``arq``): Redis, asyncio.

::

    from arq.connections import RedisSettings
    from rindle_core.relays.arq import ArqRelay

    relay = ArqRelay(RedisSettings(host="127.0.0.1"), queue="rindle")

    class WorkerSettings:                     # run with: arq proj.WorkerSettings
        functions = relay.functions
        queue_name = relay.queue
        redis_settings = relay.redis_settings

arq's enqueueing is a coroutine and rindle's dispatch hook is not: the relay
keeps one event loop in a daemon thread, with its own connection pool, and
waits (at most *send_timeout* seconds) for each job to be queued. The job
runs in a thread of the arq worker (rindle's runner is synchronous).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from .._clock import utcnow
from ._base import BrokerFactory, Relay, require_extra, run_relayed

__all__ = ["FUNCTION_NAME", "ArqRelay"]

#: The name of the arq function that runs a rindle job by id.
FUNCTION_NAME = "rindle_run_job"


class ArqRelay(Relay):
    """Hands job ids to the arq function :data:`FUNCTION_NAME` on *queue*."""

    engine = "arq"

    def __init__(
        self,
        redis_settings: Any = None,
        *,
        queue: str = "rindle",
        function_name: str = FUNCTION_NAME,
        rindle_broker: BrokerFactory | None = None,
        timeout: float = 3600.0,
        send_timeout: float = 10.0,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        arq_worker = require_extra("arq.worker", "arq")
        connections = require_extra("arq.connections", "arq")
        super().__init__(rindle_broker=rindle_broker, clock=clock)
        self.redis_settings = redis_settings or connections.RedisSettings()
        self.queue = queue
        self.function_name = function_name
        self._send_timeout = send_timeout
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: Any = None

        async def run_job(ctx: dict[str, Any], job_id: str) -> None:
            again = await asyncio.to_thread(self._run, job_id)
            if again is not None:
                await ctx["redis"].enqueue_job(
                    self.function_name, job_id, _queue_name=self.queue, _defer_by=again
                )

        #: What the arq ``WorkerSettings.functions`` lists.
        self.functions: list[Any] = [
            arq_worker.func(run_job, name=function_name, timeout=timeout, max_tries=1)
        ]

    def _run(self, job_id: str) -> float | None:
        return run_relayed(self.source.jobs(), job_id, clock=self._clock)

    def _loop_and_pool(self) -> tuple[asyncio.AbstractEventLoop, Any]:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="rindle-arq", daemon=True).start()
                self._loop = loop
            if self._pool is None:
                connections = require_extra("arq.connections", "arq")
                future = asyncio.run_coroutine_threadsafe(
                    connections.create_pool(self.redis_settings, default_queue_name=self.queue),
                    self._loop,
                )
                self._pool = future.result(self._send_timeout)
            return self._loop, self._pool

    def send(self, job_id: str, *, delay: float = 0.0) -> None:
        """``enqueue_job`` on the relay's loop, deferred when the job is not due yet."""
        loop, pool = self._loop_and_pool()
        future = asyncio.run_coroutine_threadsafe(
            pool.enqueue_job(
                self.function_name,
                job_id,
                _queue_name=self.queue,
                _defer_by=delay if delay > 0 else None,
            ),
            loop,
        )
        future.result(self._send_timeout)

    def close(self) -> None:
        """Close the relay's connection pool and stop its loop."""
        with self._lock:
            loop, pool, self._loop, self._pool = self._loop, self._pool, None, None
        if loop is None:
            return
        if pool is not None:
            asyncio.run_coroutine_threadsafe(pool.aclose(), loop).result(self._send_timeout)
        loop.call_soon_threadsafe(loop.stop)

    def __repr__(self) -> str:
        return f"<ArqRelay queue={self.queue!r}>"
