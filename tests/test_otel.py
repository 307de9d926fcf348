"""The OpenTelemetry plugin, read back through the SDK's in-memory exporters.

A lifecycle on SQLite and PostgreSQL (a promoted upload, a resumable one
cancelled, one abandoned and expired, a refused sign) must give one span per
broker operation and job run with ids, states and outcomes, the upload and
job metrics, the state gauges from the database, and nowhere a signed URL,
its signature or a session URI.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pluggy
import pytest

pytest.importorskip("opentelemetry.sdk")

from observability_scenario import SECRET_MARKERS, run_lifecycle  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode  # noqa: E402

from fakes import PNG  # noqa: E402
from rindle_core import ConfigurationError, Database  # noqa: E402
from rindle_core.contrib import otel  # noqa: E402


class Exported:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Metric name → [(attributes, point)] from one collection."""
        data = self.reader.get_metrics_data()
        assert data is not None
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found[metric.name] = [
                        (dict(point.attributes or {}), point) for point in metric.data.data_points
                    ]
        self.last_json = data.to_json()
        return found


@pytest.fixture
def exported() -> Iterator[Exported]:
    e = Exported()
    yield e
    e.tracer_provider.shutdown()
    e.meter_provider.shutdown()


def test_spans_per_operation_and_job_run(
    any_db: Database, pm: pluggy.PluginManager, exported: Exported
) -> None:
    otel.instrument(
        pm, tracer_provider=exported.tracer_provider, meter_provider=exported.meter_provider
    )
    run = run_lifecycle(any_db, pm)
    spans = exported.finished()
    names = [span.name for span in spans]
    for name in (
        "rindle.initiate_session",
        "rindle.sign_url",
        "rindle.verify_completion",
        "rindle.job.run",
        "rindle.run_jobs",
        "rindle.initiate_resumable_session",
        "rindle.resumable_session_status",
        "rindle.cancel_resumable_session",
        "rindle.expire_sessions",
    ):
        assert name in names, names
    by_name = {span.name: span for span in spans}
    put = run["put"]
    sign = next(s for s in spans if s.name == "rindle.sign_url")
    assert sign.attributes is not None
    assert sign.attributes["rindle.session.id"] == put.id
    assert sign.attributes["rindle.asset.id"] == put.asset_id
    assert sign.attributes["rindle.profile"] == "images"
    assert sign.attributes["rindle.upload.strategy"] == "presigned_put"
    assert sign.attributes["rindle.session.state"] == "signed"
    assert sign.attributes["rindle.outcome"] == "ok"
    verify = next(s for s in spans if s.name == "rindle.verify_completion")
    assert verify.attributes is not None
    assert verify.attributes["rindle.asset.state"] == "validating"
    # The job run is a child of the run_jobs operation that ran it.
    job, run_jobs = by_name["rindle.job.run"], by_name["rindle.run_jobs"]
    assert job.parent is not None and run_jobs.context is not None
    assert job.parent.span_id == run_jobs.context.span_id
    assert job.attributes is not None
    assert job.attributes["rindle.job.kind"] == "promote"
    assert job.attributes["rindle.asset.id"] == put.asset_id
    assert job.attributes["rindle.outcome"] == "succeeded"
    # The refused verify: status ERROR, the error's class, no message.
    refused = [s for s in spans if s.name == "rindle.verify_completion" and s is not verify]
    assert len(refused) == 1
    assert refused[0].status.status_code is StatusCode.ERROR
    assert refused[0].attributes is not None
    assert refused[0].attributes["error.type"] == "InvalidTransition"
    assert refused[0].attributes["rindle.outcome"] == "error"
    assert not refused[0].events  # no exception event: its message is not recorded
    assert all(s.end_time is not None and s.start_time is not None for s in spans)


def test_metrics_count_uploads_jobs_and_states(
    any_db: Database, pm: pluggy.PluginManager, exported: Exported
) -> None:
    otel.instrument(
        pm,
        tracer_provider=exported.tracer_provider,
        meter_provider=exported.meter_provider,
        database=any_db,
    )
    run_lifecycle(any_db, pm)
    points = exported.points()

    def total(name: str, **attributes: str) -> int:
        return sum(
            point.value
            for attrs, point in points[name]
            if all(attrs.get(f"rindle.{k}") == v for k, v in attributes.items())
        )

    assert total("rindle.uploads.started") == 3
    assert total("rindle.uploads.started", profile="images") == 1
    assert points["rindle.uploads.completed"][0][0] == {
        "rindle.profile": "images",
        "rindle.upload.strategy": "presigned_put",
    }
    assert total("rindle.uploads.completed") == 1
    assert total("rindle.uploads.bytes") == len(PNG)
    failed = {
        (attrs["rindle.upload.strategy"], attrs["rindle.session.state"]): point.value
        for attrs, point in points["rindle.uploads.failed"]
    }
    assert failed == {("resumable", "aborted"): 1, ("presigned_put", "expired"): 1}
    ((job_attrs, job_point),) = points["rindle.job.duration"]
    assert job_attrs == {"rindle.job.kind": "promote", "rindle.outcome": "succeeded"}
    assert job_point.count == 1
    operations = {
        (attrs["rindle.operation"], attrs["rindle.outcome"]): point.count
        for attrs, point in points["rindle.operation.duration"]
    }
    assert operations[("verify_completion", "ok")] == 1
    assert operations[("verify_completion", "error")] == 1
    sessions = {a["rindle.session.state"]: p.value for a, p in points["rindle.sessions"]}
    assert (sessions["completed"], sessions["aborted"], sessions["expired"]) == (1, 1, 1)
    assert sessions["signed"] == 0  # every state is reported
    assets = {a["rindle.asset.state"]: p.value for a, p in points["rindle.assets"]}
    assert assets["available"] == 1
    jobs = {a["rindle.job.state"]: p.value for a, p in points["rindle.jobs"]}
    assert jobs["succeeded"] == 1
    assert points["rindle.jobs.due"][0][1].value == 0
    assert points["rindle.jobs.oldest_due_age"][0][1].value == 0


def test_no_span_or_metric_carries_a_secret(
    any_db: Database, pm: pluggy.PluginManager, exported: Exported
) -> None:
    otel.instrument(
        pm,
        tracer_provider=exported.tracer_provider,
        meter_provider=exported.meter_provider,
        database=any_db,
    )
    run = run_lifecycle(any_db, pm)
    exported.points()
    text = "\n".join(span.to_json() for span in exported.finished()) + exported.last_json
    assert run["put"].id in text  # the scan reads what was exported
    for secret in (run["url"], run["signature"], run["session_uri"], *SECRET_MARKERS):
        assert secret not in text


def test_instrument_twice_is_refused(pm: pluggy.PluginManager, exported: Exported) -> None:
    plugin = otel.instrument(pm, tracer_provider=exported.tracer_provider)
    with pytest.raises(ConfigurationError, match="already registered"):
        otel.instrument(pm)
    pm.unregister(plugin)
    otel.instrument(pm, tracer_provider=exported.tracer_provider)
