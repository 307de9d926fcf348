"""OpenTelemetry for rindle: a span per broker operation and job run, and metrics.

Install the ``otel`` extra and register the plugin once, at start-up::

    from rindle_core.contrib import otel

    otel.instrument(database=broker.database)  # the global tracer and meter providers

Spans are named ``rindle.<operation>`` (``rindle.sign_url``,
``rindle.verify_completion``, ``rindle.job.run``…), made current while the
operation runs (so a storage SDK's own spans nest under them), and carry
ids, profile, strategy, storage, states and the outcome
(``rindle.session.id``, ``rindle.upload.strategy``, ``rindle.outcome``…); a
failed operation has status ERROR and ``error.type``, the exception's class
name. Never a URL, a signature, a token or a session URI: attributes come
only from :class:`~rindle_core.observability.Operation` and the hooks' ids
and names, and exception messages are not recorded.

Metrics: ``rindle.uploads.started``, ``rindle.uploads.completed``,
``rindle.uploads.failed`` (by ``rindle.profile`` and
``rindle.upload.strategy``; failed also by ``rindle.session.state``),
``rindle.uploads.bytes``, the histograms ``rindle.job.duration`` (by
``rindle.job.kind`` and ``rindle.outcome``) and ``rindle.operation.duration``;
with a *database*, the gauges ``rindle.sessions``, ``rindle.assets`` and
``rindle.jobs`` by state, ``rindle.jobs.due`` and
``rindle.jobs.oldest_due_age`` (seconds), read from the database at most
once a second when a reader collects.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextvars import Token

import pluggy

from .._errors import ConfigurationError
from .._hookimpl import hookimpl
from .._operations import Attribute, Operation
from .._telemetry import log_event
from ..db import Database
from ..plugins import get_plugin_manager
from ._counts import StateCounts, count_states
from ._signals import Signals

try:
    from opentelemetry import context, metrics, trace
    from opentelemetry.context import Context
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.trace import Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ConfigurationError(
        'rindle_core.contrib.otel needs the "otel" extra: pip install "rindle-core[otel]"'
    ) from exc

__all__ = ["PLUGIN_NAME", "OpenTelemetryPlugin", "instrument"]

#: The name the plugin is registered under.
PLUGIN_NAME = "rindle_core.contrib.otel"

_log = logging.getLogger("rindle.otel")

#: Operation attribute → span attribute.
_SPAN_KEYS: Mapping[str, str] = {
    "session_id": "rindle.session.id",
    "asset_id": "rindle.asset.id",
    "job_id": "rindle.job.id",
    "profile": "rindle.profile",
    "storage": "rindle.storage",
    "strategy": "rindle.upload.strategy",
    "session_state": "rindle.session.state",
    "asset_state": "rindle.asset.state",
    "kind": "rindle.job.kind",
    "attempt": "rindle.job.attempt",
}

_COUNTS_TTL = 1.0


def _version() -> str:
    try:
        return importlib.metadata.version("rindle-core")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a source tree
        return "0"


def _span_attributes(attributes: Mapping[str, Attribute]) -> dict[str, Attribute]:
    return {_SPAN_KEYS.get(key, f"rindle.{key}"): value for key, value in attributes.items()}


class OpenTelemetryPlugin(Signals):
    """Spans and metrics for one plugin manager's broker(s) and job runners.

    *tracer_provider* and *meter_provider* default to OpenTelemetry's global
    ones. With *database*, the state gauges are observed from it.
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        database: Database | None = None,
    ) -> None:
        version = _version()
        self._tracer = trace.get_tracer("rindle", version, tracer_provider=tracer_provider)
        meter = metrics.get_meter("rindle", version, meter_provider=meter_provider)
        self._started = meter.create_counter(
            "rindle.uploads.started", unit="{upload}", description="Upload sessions opened"
        )
        self._completed = meter.create_counter(
            "rindle.uploads.completed", unit="{upload}", description="Upload sessions completed"
        )
        self._failed = meter.create_counter(
            "rindle.uploads.failed",
            unit="{upload}",
            description="Upload sessions ended failed, aborted or expired",
        )
        self._bytes = meter.create_counter(
            "rindle.uploads.bytes", unit="By", description="Bytes of completed uploads"
        )
        self._job_duration = meter.create_histogram(
            "rindle.job.duration", unit="s", description="Job run duration, by kind and outcome"
        )
        self._operation_duration = meter.create_histogram(
            "rindle.operation.duration",
            unit="s",
            description="Broker operation duration, by operation and outcome",
        )
        self._spans: dict[int, tuple[trace.Span, Token[Context]]] = {}
        self._database = database
        self._counts: tuple[float, StateCounts] | None = None
        self._counts_lock = threading.Lock()
        if database is not None:
            self._observe_states(meter)

    # -- spans --------------------------------------------------------------------

    @hookimpl
    def rindle_operation_started(self, operation: Operation) -> None:
        span = self._tracer.start_span(
            f"rindle.{operation.name}",
            attributes=_span_attributes(operation.attributes),
            start_time=operation.start_time_ns,
        )
        token = context.attach(trace.set_span_in_context(span))
        self._spans[id(operation)] = (span, token)

    def after_operation(self, operation: Operation) -> None:
        opened = self._spans.pop(id(operation), None)
        if opened is None:  # its start failed (and was logged)
            return
        span, token = opened
        try:
            span.set_attributes(_span_attributes(operation.attributes))
            span.set_attribute("rindle.outcome", operation.outcome or "ok")
            if operation.error is not None:
                span.set_attribute("error.type", operation.error)
                span.set_status(Status(StatusCode.ERROR, operation.error))
            span.end()
        finally:
            context.detach(token)

    # -- counters -----------------------------------------------------------------

    def upload_started(self, profile: str, strategy: str) -> None:
        self._started.add(1, {"rindle.profile": profile, "rindle.upload.strategy": strategy})

    def upload_completed(self, profile: str, strategy: str, byte_size: int) -> None:
        labels = {"rindle.profile": profile, "rindle.upload.strategy": strategy}
        self._completed.add(1, labels)
        self._bytes.add(byte_size, labels)

    def upload_failed(self, profile: str, strategy: str, state: str) -> None:
        self._failed.add(
            1,
            {
                "rindle.profile": profile,
                "rindle.upload.strategy": strategy,
                "rindle.session.state": state,
            },
        )

    def job_finished(self, kind: str, outcome: str, seconds: float) -> None:
        self._job_duration.record(seconds, {"rindle.job.kind": kind, "rindle.outcome": outcome})

    def operation_finished(self, name: str, outcome: str, seconds: float) -> None:
        self._operation_duration.record(
            seconds, {"rindle.operation": name, "rindle.outcome": outcome}
        )

    # -- gauges -------------------------------------------------------------------

    def _observe_states(self, meter: metrics.Meter) -> None:
        def by_state(
            pick: Callable[[StateCounts], Mapping[str, int]], key: str
        ) -> Callable[[CallbackOptions], Iterable[Observation]]:
            def observe(_: CallbackOptions) -> Iterable[Observation]:
                counts = self._state_counts()
                if counts is None:
                    return []
                return [Observation(n, {key: state}) for state, n in pick(counts).items()]

            return observe

        def single(
            pick: Callable[[StateCounts], float],
        ) -> Callable[[CallbackOptions], Iterable[Observation]]:
            def observe(_: CallbackOptions) -> Iterable[Observation]:
                counts = self._state_counts()
                return [] if counts is None else [Observation(pick(counts))]

            return observe

        meter.create_observable_gauge(
            "rindle.sessions",
            [by_state(lambda c: c.sessions, "rindle.session.state")],
            unit="{session}",
            description="Upload sessions by state",
        )
        meter.create_observable_gauge(
            "rindle.assets",
            [by_state(lambda c: c.assets, "rindle.asset.state")],
            unit="{asset}",
            description="Assets by state",
        )
        meter.create_observable_gauge(
            "rindle.jobs",
            [by_state(lambda c: c.jobs, "rindle.job.state")],
            unit="{job}",
            description="Jobs by state (the queue's depth)",
        )
        meter.create_observable_gauge(
            "rindle.jobs.due",
            [single(lambda c: c.due_jobs)],
            unit="{job}",
            description="Pending jobs whose run time has come",
        )
        meter.create_observable_gauge(
            "rindle.jobs.oldest_due_age",
            [single(lambda c: c.oldest_due_job_age)],
            unit="s",
            description="Seconds since the oldest due job became due",
        )

    def _state_counts(self) -> StateCounts | None:
        """The counts, read at most once a second (one read serves every gauge)."""
        assert self._database is not None
        with self._counts_lock:
            now = time.monotonic()
            if self._counts is not None and now - self._counts[0] < _COUNTS_TTL:
                return self._counts[1]
            try:
                counts = count_states(self._database)
            except Exception as exc:
                log_event(
                    _log, logging.WARNING, "rindle.otel.counts_failed", error=type(exc).__name__
                )
                return None
            self._counts = (now, counts)
            return counts


def instrument(
    plugin_manager: pluggy.PluginManager | None = None,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    database: Database | None = None,
) -> OpenTelemetryPlugin:
    """Register an :class:`OpenTelemetryPlugin` on *plugin_manager* (default: the
    process-wide one brokers use unless given another) and return it.

    Registering twice on one manager raises :class:`ConfigurationError`;
    ``plugin_manager.unregister(plugin)`` removes it.
    """
    pm = plugin_manager or get_plugin_manager()
    if pm.get_plugin(PLUGIN_NAME) is not None:
        raise ConfigurationError("the OpenTelemetry plugin is already registered")
    plugin = OpenTelemetryPlugin(
        tracer_provider=tracer_provider, meter_provider=meter_provider, database=database
    )
    pm.register(plugin, name=PLUGIN_NAME)
    return plugin
