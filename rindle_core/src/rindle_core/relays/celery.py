"""The Celery relay (extra ``celery``): Redis or RabbitMQ, whatever the Celery app uses.

::

    from celery import Celery
    from rindle_core.relays.celery import CeleryRelay

    app = Celery("proj", broker="redis://127.0.0.1:6379/0")
    relay = CeleryRelay(app, queue="rindle")      # registers the task on the app

    pm = make_plugin_manager(); pm.register(relay)  # in the web app
    broker = load_broker(plugin_manager=pm)

Run the worker with ``celery -A proj worker -Q rindle``. The task is
acknowledged late and rejected when its worker is lost, so RabbitMQ
redelivers it at once (Redis after its visibility timeout); rindle's claim
makes a second delivery a no-op either way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from .._clock import utcnow
from ._base import BrokerFactory, Relay, require_extra

__all__ = ["TASK_NAME", "CeleryRelay"]

#: The name of the task that runs a rindle job by id.
TASK_NAME = "rindle.run_job"


class CeleryRelay(Relay):
    """Hands job ids to a Celery task registered on *app* (routed to *queue*).

    *task_options* go to ``app.task`` (e.g. ``time_limit``); the task does
    not retry by Celery's means: rindle schedules its own retries and hands
    the job over again when they are due.
    """

    engine = "celery"

    def __init__(
        self,
        app: Any,
        *,
        queue: str = "rindle",
        task_name: str = TASK_NAME,
        rindle_broker: BrokerFactory | None = None,
        task_options: dict[str, Any] | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        require_extra("celery", "celery")
        super().__init__(rindle_broker=rindle_broker, clock=clock)
        self.app = app
        self.queue = queue
        options: dict[str, Any] = {
            "name": task_name,
            "acks_late": True,
            "reject_on_worker_lost": True,
            "ignore_result": True,
            **(task_options or {}),
        }

        def run_job(job_id: str) -> None:
            self.handle(job_id)

        self.task: Any = app.task(**options)(run_job)

    def send(self, job_id: str, *, delay: float = 0.0) -> None:
        """``apply_async`` on the relay's queue, with a countdown when the job is not due yet."""
        self.task.apply_async((job_id,), queue=self.queue, countdown=delay if delay > 0 else None)

    def __repr__(self) -> str:
        return f"<CeleryRelay queue={self.queue!r}>"
