"""Prometheus for rindle: state gauges read at scrape time, and upload and job counters.

Install the ``prometheus`` extra. In the app that runs the broker (or the
worker), register both halves on one registry and mount its endpoint::

    from prometheus_client import CollectorRegistry, make_wsgi_app
    from rindle_core.contrib import prometheus

    registry = CollectorRegistry()
    prometheus.instrument(registry, database=broker.database)
    metrics_app = make_wsgi_app(registry)  # or make_asgi_app(registry)

- :class:`StateCollector` queries the database at each scrape (one
  ``COUNT … GROUP BY state`` per table and one for the due jobs):
  ``rindle_sessions{state}``, ``rindle_assets{state}``, ``rindle_jobs{state}``
  (the queue's depth), ``rindle_jobs_due``,
  ``rindle_oldest_due_job_age_seconds`` and ``rindle_database_up`` (0 when
  the read failed, and the gauges are then left out).
- :class:`PrometheusPlugin` counts from the hooks, in the process doing the
  work: ``rindle_uploads_started_total``, ``rindle_uploads_completed_total``,
  ``rindle_uploads_failed_total{state}`` (by ``profile`` and ``strategy``),
  ``rindle_upload_bytes_total``, and the histograms
  ``rindle_job_duration_seconds{kind,outcome}`` and
  ``rindle_operation_duration_seconds{operation,outcome}``.

``rindle metrics`` prints the state gauges once, or serves them
(``--serve PORT``). Labels are names and states, never ids or secrets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import pluggy

from .._errors import ConfigurationError
from .._telemetry import log_event
from ..db import Database
from ..plugins import get_plugin_manager
from ._counts import StateCounts, count_states
from ._signals import Signals

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
    from prometheus_client.core import GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ConfigurationError(
        'rindle_core.contrib.prometheus needs the "prometheus" extra: '
        'pip install "rindle-core[prometheus]"'
    ) from exc

__all__ = ["PLUGIN_NAME", "PrometheusPlugin", "StateCollector", "instrument"]

#: The name the counting plugin is registered under.
PLUGIN_NAME = "rindle_core.contrib.prometheus"

_log = logging.getLogger("rindle.prometheus")

#: Job and operation durations: from a fast sign (ms) to a slow promotion (minutes).
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class StateCollector(Collector):
    """Sessions, assets and jobs by state, and the due jobs, read at each scrape."""

    def __init__(self, database: Database, *, namespace: str = "rindle") -> None:
        self._database = database
        self._ns = namespace

    def describe(self) -> Iterable[Metric]:
        """The families, without reading the database (registration stays offline)."""
        return list(self._families(None))

    def collect(self) -> Iterable[Metric]:
        """The families, with one read of the database."""
        try:
            counts: StateCounts | None = count_states(self._database)
        except Exception as exc:
            log_event(
                _log, logging.WARNING, "rindle.prometheus.counts_failed", error=type(exc).__name__
            )
            counts = None
        return list(self._families(counts))

    def _families(self, counts: StateCounts | None) -> Iterator[Metric]:
        ns = self._ns
        up = GaugeMetricFamily(
            f"{ns}_database_up", "1 if rindle's state counts were read at this scrape, else 0"
        )
        up.add_metric([], 0 if counts is None else 1)
        yield up
        tables = (
            ("sessions", "Upload sessions by state", None if counts is None else counts.sessions),
            ("assets", "Assets by state", None if counts is None else counts.assets),
            ("jobs", "Jobs by state (the queue's depth)", None if counts is None else counts.jobs),
        )
        for name, documentation, by_state in tables:
            family = GaugeMetricFamily(f"{ns}_{name}", documentation, labels=["state"])
            for state, value in (by_state or {}).items():
                family.add_metric([state], value)
            yield family
        due = GaugeMetricFamily(f"{ns}_jobs_due", "Pending jobs whose run time has come")
        age = GaugeMetricFamily(
            f"{ns}_oldest_due_job_age_seconds",
            "Seconds since the oldest due job became due (0 when none is due)",
        )
        if counts is not None:
            due.add_metric([], counts.due_jobs)
            age.add_metric([], counts.oldest_due_job_age)
        yield due
        yield age


class PrometheusPlugin(Signals):
    """Counters and histograms fed from rindle's hooks, registered on *registry*."""

    def __init__(
        self, registry: CollectorRegistry = REGISTRY, *, namespace: str = "rindle"
    ) -> None:
        upload = ["profile", "strategy"]
        self._started = Counter(
            "uploads_started",
            "Upload sessions opened",
            upload,
            namespace=namespace,
            registry=registry,
        )
        self._completed = Counter(
            "uploads_completed",
            "Upload sessions completed",
            upload,
            namespace=namespace,
            registry=registry,
        )
        self._failed = Counter(
            "uploads_failed",
            "Upload sessions ended failed, aborted or expired",
            [*upload, "state"],
            namespace=namespace,
            registry=registry,
        )
        self._bytes = Counter(
            "upload_bytes",
            "Bytes of completed uploads",
            upload,
            namespace=namespace,
            registry=registry,
        )
        self._job_duration = Histogram(
            "job_duration_seconds",
            "Job run duration, by kind and outcome",
            ["kind", "outcome"],
            namespace=namespace,
            registry=registry,
            buckets=_BUCKETS,
        )
        self._operation_duration = Histogram(
            "operation_duration_seconds",
            "Broker operation duration, by operation and outcome",
            ["operation", "outcome"],
            namespace=namespace,
            registry=registry,
            buckets=_BUCKETS,
        )

    def upload_started(self, profile: str, strategy: str) -> None:
        self._started.labels(profile, strategy).inc()

    def upload_completed(self, profile: str, strategy: str, byte_size: int) -> None:
        self._completed.labels(profile, strategy).inc()
        self._bytes.labels(profile, strategy).inc(byte_size)

    def upload_failed(self, profile: str, strategy: str, state: str) -> None:
        self._failed.labels(profile, strategy, state).inc()

    def job_finished(self, kind: str, outcome: str, seconds: float) -> None:
        self._job_duration.labels(kind, outcome).observe(seconds)

    def operation_finished(self, name: str, outcome: str, seconds: float) -> None:
        self._operation_duration.labels(name, outcome).observe(seconds)


def instrument(
    registry: CollectorRegistry = REGISTRY,
    *,
    database: Database | None = None,
    plugin_manager: pluggy.PluginManager | None = None,
    namespace: str = "rindle",
) -> PrometheusPlugin:
    """Register the counters on *registry* and on *plugin_manager* (default: the
    process-wide one), and, with *database*, a :class:`StateCollector`.

    Registering twice on one plugin manager raises :class:`ConfigurationError`.
    """
    pm = plugin_manager or get_plugin_manager()
    if pm.get_plugin(PLUGIN_NAME) is not None:
        raise ConfigurationError("the Prometheus plugin is already registered")
    plugin = PrometheusPlugin(registry, namespace=namespace)
    if database is not None:
        registry.register(StateCollector(database, namespace=namespace))
    pm.register(plugin, name=PLUGIN_NAME)
    return plugin
