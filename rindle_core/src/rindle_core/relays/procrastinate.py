"""The procrastinate relay (extra ``procrastinate``): PostgreSQL.

::

    import procrastinate
    from rindle_core.relays.procrastinate import ProcrastinateRelay

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo="..."))
    relay = ProcrastinateRelay(app, queue="rindle")   # registers the task on the app
    app.open()                                        # the web app defers synchronously

Run the workers with ``procrastinate --app=proj.app worker --queues=rindle``
(after ``procrastinate --app=proj.app schema --apply`` once). The task does
not retry by procrastinate's means: rindle schedules its own retries and
hands the job over again when they are due.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from .._clock import utcnow
from ._base import BrokerFactory, Relay, require_extra

__all__ = ["TASK_NAME", "ProcrastinateRelay"]

#: The name of the task that runs a rindle job by id.
TASK_NAME = "rindle.run_job"


class ProcrastinateRelay(Relay):
    """Hands job ids to a procrastinate task registered on *app* (in *queue*)."""

    engine = "procrastinate"

    def __init__(
        self,
        app: Any,
        *,
        queue: str = "rindle",
        task_name: str = TASK_NAME,
        rindle_broker: BrokerFactory | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        require_extra("procrastinate", "procrastinate")
        super().__init__(rindle_broker=rindle_broker, clock=clock)
        self.app = app
        self.queue = queue

        def run_job(job_id: str) -> None:
            self.handle(job_id)

        self.task: Any = app.task(name=task_name, queue=queue)(run_job)

    def send(self, job_id: str, *, delay: float = 0.0) -> None:
        """``defer`` the task, scheduled *delay* seconds ahead when the job is not due yet."""
        deferrer = (
            self.task.configure(schedule_in={"seconds": delay})
            if delay > 0
            else self.task.configure()
        )
        deferrer.defer(job_id=job_id)

    def __repr__(self) -> str:
        return f"<ProcrastinateRelay queue={self.queue!r}>"
