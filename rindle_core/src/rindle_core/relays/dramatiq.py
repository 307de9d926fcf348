"""The Dramatiq relay (extra ``dramatiq``): Redis or RabbitMQ, whatever the Dramatiq broker is.

::

    import dramatiq
    from dramatiq.brokers.redis import RedisBroker
    from rindle_core.relays.dramatiq import DramatiqRelay

    dramatiq.set_broker(RedisBroker(url="redis://127.0.0.1:6379/0"))
    relay = DramatiqRelay(queue="rindle")   # declares the actor on that broker

Run the workers with ``dramatiq proj --queues rindle``. The actor does not
retry by Dramatiq's means (``max_retries=0``): rindle schedules its own
retries and hands the job over again when they are due.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from .._clock import utcnow
from ._base import BrokerFactory, Relay, require_extra

__all__ = ["ACTOR_NAME", "DramatiqRelay"]

#: The name of the actor that runs a rindle job by id.
ACTOR_NAME = "rindle_run_job"

#: An hour, in milliseconds: Dramatiq's default time limit is ten minutes.
_TIME_LIMIT_MS = 3_600_000


class DramatiqRelay(Relay):
    """Hands job ids to a Dramatiq actor on *broker* (default: the global broker).

    *actor_options* go to ``dramatiq.actor`` (e.g. ``time_limit``).
    """

    engine = "dramatiq"

    def __init__(
        self,
        broker: Any = None,
        *,
        queue: str = "rindle",
        actor_name: str = ACTOR_NAME,
        rindle_broker: BrokerFactory | None = None,
        actor_options: dict[str, Any] | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        dramatiq = require_extra("dramatiq", "dramatiq")
        super().__init__(rindle_broker=rindle_broker, clock=clock)
        self.queue = queue
        options: dict[str, Any] = {
            "max_retries": 0,
            "time_limit": _TIME_LIMIT_MS,
            **(actor_options or {}),
        }

        def run_job(job_id: str) -> None:
            self.handle(job_id)

        self.actor: Any = dramatiq.actor(
            run_job, actor_name=actor_name, queue_name=queue, broker=broker, **options
        )

    def send(self, job_id: str, *, delay: float = 0.0) -> None:
        """``send_with_options``, delayed (in milliseconds) when the job is not due yet."""
        millis = int(delay * 1000)
        self.actor.send_with_options(args=(job_id,), delay=millis if millis > 0 else None)

    def __repr__(self) -> str:
        return f"<DramatiqRelay queue={self.queue!r}>"
