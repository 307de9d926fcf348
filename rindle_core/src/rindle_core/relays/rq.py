"""The RQ relay (extra ``rq``): Redis.

::

    from redis import Redis
    from rindle_core.relays.rq import RQRelay

    relay = RQRelay(Redis.from_url("redis://127.0.0.1:6379/0"), queue="rindle")

Run the workers with ``rq worker --with-scheduler rindle`` (the scheduler
enqueues the jobs handed over for later: retries, promotions not yet due).
RQ imports the task by name, :func:`run_job`; it builds the rindle broker
from *rindle_broker* (a module-level function, passed by reference) or from
``$RINDLE_CONFIG`` / ``./rindle.toml``. Use ``--worker-class
rq.worker.SimpleWorker`` (or a worker pool) to keep one broker per worker
process: RQ's default worker forks a child per job, which then builds its
broker anew every time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from .._clock import utcnow
from ._base import BrokerFactory, BrokerSource, Relay, require_extra, run_relayed

__all__ = ["RQRelay", "run_job"]

#: Seconds RQ lets one run take (its default, 180, is short for a large promotion).
_TIMEOUT = 3600

_sources: dict[BrokerFactory | None, BrokerSource] = {}


def run_job(job_id: str, rindle_broker: BrokerFactory | None = None, queue: str = "") -> None:
    """The RQ task: run the rindle job, enqueue it again if rindle rescheduled it."""
    source = _sources.get(rindle_broker)
    if source is None:
        source = _sources.setdefault(rindle_broker, BrokerSource(rindle_broker))
    again = run_relayed(source.jobs(), job_id)
    if again is not None:
        rq = require_extra("rq", "rq")
        current = rq.get_current_job()
        name = queue or (current.origin if current is not None else "rindle")
        _enqueue(rq.Queue(name, connection=current.connection), job_id, rindle_broker, again)


def _enqueue(queue: Any, job_id: str, rindle_broker: BrokerFactory | None, delay: float) -> None:
    args = (job_id, rindle_broker, queue.name)
    if delay > 0:
        queue.enqueue_in(dt.timedelta(seconds=delay), run_job, args=args, job_timeout=_TIMEOUT)
    else:
        queue.enqueue(run_job, args=args, job_timeout=_TIMEOUT)


class RQRelay(Relay):
    """Hands job ids to :func:`run_job` on the RQ queue *queue*."""

    engine = "rq"

    def __init__(
        self,
        connection: Any,
        *,
        queue: str = "rindle",
        rindle_broker: BrokerFactory | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        rq = require_extra("rq", "rq")
        super().__init__(rindle_broker=rindle_broker, clock=clock)
        self.queue: Any = rq.Queue(queue, connection=connection)
        self._factory = rindle_broker

    def send(self, job_id: str, *, delay: float = 0.0) -> None:
        """Enqueue :func:`run_job` now, or in *delay* seconds (RQ's scheduler)."""
        _enqueue(self.queue, job_id, self._factory, delay)

    def __repr__(self) -> str:
        return f"<RQRelay queue={self.queue.name!r}>"
