"""What every relay shares: the dispatch hook, the task body, the broker it runs on.

A relay is a plugin object: register it on the plugin manager the app's
:class:`~rindle_core.Broker` uses, and its ``rindle_dispatch_job`` hands each
committed job's id to the engine (delayed until the job's ``run_at``). The
engine's task calls :meth:`Relay.handle`: it runs the job by id under
rindle's own claim (:meth:`rindle_core.JobRunner.run_job`), so a duplicate
delivery, a retry by the engine or a job another worker holds is a no-op,
and hands the job over again when rindle scheduled it for later (a retry
after backoff, or a promotion not yet due).
"""

from __future__ import annotations

import abc
import datetime as dt
import importlib
import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._clock import utcnow
from .._errors import ConfigurationError
from .._hookimpl import hookimpl
from .._telemetry import log_event
from ..models import Job
from ..states import JobState
from ._sweep import DEFAULT_REDISPATCH_TIMEOUT, RedispatchReport, redispatch_stale

if TYPE_CHECKING:
    from .._broker import Broker
    from ..jobs import JobRunner

__all__ = ["BrokerSource", "Relay", "require_extra", "run_relayed"]

logger = logging.getLogger("rindle.relays")

#: Seconds before a job that was due but could not be claimed is handed over again.
_UNCLAIMED_RETRY = 1.0

BrokerFactory = Callable[[], "Broker"]


def require_extra(module: str, extra: str) -> Any:
    """Import the engine's *module*, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigurationError(
            f'this relay needs {module!r}: pip install "rindle-core[{extra}]"'
        ) from None


def _load_default_broker() -> Broker:
    from ..config import load_broker

    return load_broker()


class BrokerSource:
    """Builds the rindle :class:`~rindle_core.Broker` an engine worker runs jobs with.

    Built on first use in each process (never inherited across a fork: a
    database pool must not be shared by a parent and its children) and kept
    for the process's life. *factory* is a zero-argument callable; the
    default is :func:`rindle_core.config.load_broker` (``$RINDLE_CONFIG``,
    ``./rindle.toml``).
    """

    def __init__(self, factory: BrokerFactory | None = None) -> None:
        self.factory: BrokerFactory = factory or _load_default_broker
        self._lock = threading.Lock()
        self._broker: Broker | None = None
        self._pid: int | None = None

    def get(self) -> Broker:
        """The broker of this process (built now if it has none yet)."""
        with self._lock:
            if self._broker is None or self._pid != os.getpid():
                self._broker = self.factory()
                self._pid = os.getpid()
            return self._broker

    def jobs(self) -> JobRunner:
        """The broker's job runner."""
        return self.get().jobs


def run_relayed(
    runner: JobRunner, job_id: str, *, clock: Callable[[], dt.datetime] = utcnow
) -> float | None:
    """Run *job_id* under a claim of *runner*'s; seconds until it must be handed over again.

    None when nothing is left for this delivery to do: the job succeeded,
    failed for good, is held by another claim (whose lease, or the sweep,
    covers it) or does not exist.
    """
    outcome = runner.run_job(job_id)
    job = runner.get(job_id)
    if outcome is not None:
        log_event(
            logger,
            logging.INFO,
            "rindle.relay.ran",
            job_id=job_id,
            kind=outcome.kind,
            result=outcome.result,
            attempts=outcome.attempts,
        )
    if job is None:
        log_event(logger, logging.WARNING, "rindle.relay.unknown_job", job_id=job_id)
        return None
    if job.state is not JobState.PENDING:
        return None
    wait = (job.run_at - clock()).total_seconds()
    if wait > 0:  # a retry after backoff, or not due yet
        return wait
    # Due and pending, yet not claimed here (a concurrent claim in flight):
    # look again shortly rather than lose the delivery.
    return _UNCLAIMED_RETRY if outcome is None else 0.0


class Relay(abc.ABC):
    """A ``rindle_dispatch_job`` plugin that hands job ids to a job engine.

    Subclasses implement :meth:`send` (enqueue the id on the engine, after
    *delay* seconds) and register an engine task that calls :meth:`handle`.
    *rindle_broker* builds the broker the engine's workers run jobs with
    (see :class:`BrokerSource`).
    """

    #: The engine's name, for logs.
    engine: str = "relay"

    def __init__(
        self,
        *,
        rindle_broker: BrokerFactory | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.source = BrokerSource(rindle_broker)
        self._clock = clock

    @abc.abstractmethod
    def send(self, job_id: str, *, delay: float = 0.0) -> None:
        """Enqueue *job_id* on the engine, to run after *delay* seconds."""

    @hookimpl
    def rindle_dispatch_job(self, job: Job) -> None:
        """Hand a committed job to the engine, due at the job's ``run_at``."""
        delay = max(0.0, (job.run_at - self._clock()).total_seconds())
        self.send(job.id, delay=delay)
        log_event(logger, logging.DEBUG, "rindle.relay.sent", engine=self.engine, job_id=job.id)

    def handle(self, job_id: str) -> None:
        """The engine task's body: run the job, hand it over again if rindle rescheduled it."""
        again = run_relayed(self.source.jobs(), job_id, clock=self._clock)
        if again is not None:
            self.send(job_id, delay=again)

    def sweep(
        self, timeout: float = DEFAULT_REDISPATCH_TIMEOUT, *, limit: int = 1000
    ) -> RedispatchReport:
        """Re-dispatch, through this relay, jobs that waited longer than *timeout* seconds."""
        return redispatch_stale(
            self.source.get().database,
            self.rindle_dispatch_job,
            timeout=timeout,
            limit=limit,
            clock=self._clock,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
