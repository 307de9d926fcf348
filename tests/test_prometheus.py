"""The Prometheus collector and counters, scraped over real HTTP and parsed.

The WSGI endpoint (``make_wsgi_app`` on the registry ``instrument`` fills)
is served on 127.0.0.1 and scraped after a lifecycle, on SQLite and
PostgreSQL; ``rindle metrics`` prints the same gauges and serves them.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pluggy
import pytest
import sqlalchemy as sa

pytest.importorskip("prometheus_client")

from observability_scenario import SECRET_MARKERS, run_lifecycle  # noqa: E402
from prometheus_client import CollectorRegistry, make_wsgi_app  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from rindle_core import ConfigurationError, Database  # noqa: E402
from rindle_core.contrib import prometheus  # noqa: E402
from rindle_core.db import jobs_table  # noqa: E402

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[CollectorRegistry], str]]:
    """``serve(registry)`` → the URL of its /metrics, on 127.0.0.1, over real HTTP."""
    servers: list[WSGIServer] = []

    def start(registry: CollectorRegistry) -> str:
        server = make_server("127.0.0.1", 0, make_wsgi_app(registry), handler_class=_Quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/metrics"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def scrape(url: str) -> tuple[str, Samples]:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        text = response.read().decode()
    return text, parse(text)


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        v
        for (n, found), v in samples.items()
        if n == name and all(dict(found).get(k) == w for k, w in labels.items())
    )


def test_a_scrape_after_a_lifecycle(
    any_db: Database,
    pm: pluggy.PluginManager,
    serve: Callable[[CollectorRegistry], str],
) -> None:
    registry = CollectorRegistry()
    prometheus.instrument(registry, database=any_db, plugin_manager=pm)
    url = serve(registry)
    run = run_lifecycle(any_db, pm)
    text, samples = scrape(url)
    # State gauges, from the database.
    assert value(samples, "rindle_database_up") == 1
    assert value(samples, "rindle_sessions", state="completed") == 1
    assert value(samples, "rindle_sessions", state="aborted") == 1
    assert value(samples, "rindle_sessions", state="expired") == 1
    assert value(samples, "rindle_sessions", state="signed") == 0
    assert value(samples, "rindle_assets", state="available") == 1
    assert value(samples, "rindle_jobs", state="succeeded") == 1
    assert value(samples, "rindle_jobs", state="pending") == 0
    assert value(samples, "rindle_jobs_due") == 0
    assert value(samples, "rindle_oldest_due_job_age_seconds") == 0
    # Counters, from the hooks.
    started = "rindle_uploads_started_total"
    assert value(samples, started, profile="images", strategy="presigned_put") == 1
    assert total(samples, started) == 3
    assert (
        value(samples, "rindle_uploads_completed_total", profile="images", strategy="presigned_put")
        == 1
    )
    assert (
        value(samples, "rindle_upload_bytes_total", profile="images", strategy="presigned_put")
        == run["bytes"]
    )
    failed = "rindle_uploads_failed_total"
    assert value(samples, failed, profile="any", strategy="resumable", state="aborted") == 1
    assert value(samples, failed, profile="any", strategy="presigned_put", state="expired") == 1
    assert (
        value(samples, "rindle_job_duration_seconds_count", kind="promote", outcome="succeeded")
        == 1
    )
    operation = "rindle_operation_duration_seconds_count"
    assert value(samples, operation, operation="verify_completion", outcome="ok") == 1
    assert value(samples, operation, operation="verify_completion", outcome="error") == 1
    # Ids and secrets are never labels.
    assert run["put"].id not in text
    for secret in (run["url"], run["signature"], run["session_uri"], *SECRET_MARKERS):
        assert secret not in text


def test_the_asgi_endpoint_mounted_in_starlette(
    sqlite_db: Database, pm: pluggy.PluginManager
) -> None:
    uvicorn = pytest.importorskip("uvicorn")
    starlette_applications = pytest.importorskip("starlette.applications")
    from prometheus_client import make_asgi_app

    registry = CollectorRegistry()
    prometheus.instrument(registry, database=sqlite_db, plugin_manager=pm)
    app = starlette_applications.Starlette()
    app.mount("/metrics", make_asgi_app(registry))
    run_lifecycle(sqlite_db, pm)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(600):
            if server.started:
                break
            threading.Event().wait(0.05)
        assert server.started
        port = sock.getsockname()[1]
        _, samples = scrape(f"http://127.0.0.1:{port}/metrics/")
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()
    assert value(samples, "rindle_sessions", state="completed") == 1
    assert total(samples, "rindle_uploads_started_total") == 3


def test_due_jobs_and_the_age_of_the_oldest(
    any_db: Database,
    pm: pluggy.PluginManager,
    serve: Callable[[CollectorRegistry], str],
) -> None:
    from fakes import PNG, MemoryStorage, broker_factory

    registry = CollectorRegistry()
    registry.register(prometheus.StateCollector(any_db))
    url = serve(registry)
    memory = MemoryStorage()
    broker = broker_factory(any_db, memory, pm)(job_mode="worker")
    for _ in range(2):
        session = broker.initiate_session(
            "images", filename="cat.png", content_type="image/png", size=len(PNG)
        )
        broker.sign_url(session.id)
        memory.client_put(session.storage_key, PNG, "image/png")
        broker.verify_completion(session.id)

    def schedule(*offsets: dt.timedelta) -> None:
        now = dt.datetime.now(dt.UTC)
        with any_db.transaction() as conn:
            ids = [row.id for row in conn.execute(sa.select(jobs_table.c.id))]
            for job_id, offset in zip(sorted(ids), offsets, strict=True):
                conn.execute(
                    sa.update(jobs_table)
                    .where(jobs_table.c.id == job_id)
                    .values(run_at=now + offset)
                )

    schedule(dt.timedelta(hours=1), dt.timedelta(hours=2))  # both later: none due
    _, samples = scrape(url)
    assert value(samples, "rindle_jobs", state="pending") == 2
    assert value(samples, "rindle_jobs_due") == 0
    assert value(samples, "rindle_oldest_due_job_age_seconds") == 0
    schedule(dt.timedelta(hours=-1), dt.timedelta(hours=1))  # one due for an hour
    _, samples = scrape(url)
    assert value(samples, "rindle_jobs_due") == 1
    assert 3600 <= value(samples, "rindle_oldest_due_job_age_seconds") < 3600 + 600


def test_an_unreadable_database_still_scrapes(
    tmp_path: Path, serve: Callable[[CollectorRegistry], str]
) -> None:
    empty = Database(f"sqlite:///{tmp_path / 'no-tables.db'}")  # no rindle tables
    registry = CollectorRegistry()
    registry.register(prometheus.StateCollector(empty))
    try:
        text, samples = scrape(serve(registry))
    finally:
        empty.dispose()
    assert value(samples, "rindle_database_up") == 0
    assert not [key for key in samples if key[0] == "rindle_sessions"]
    assert "# TYPE rindle_sessions gauge" in text  # declared, without samples


def test_instrument_twice_on_one_plugin_manager_is_refused(pm: pluggy.PluginManager) -> None:
    prometheus.instrument(CollectorRegistry(), plugin_manager=pm)
    with pytest.raises(ConfigurationError, match="already registered"):
        prometheus.instrument(CollectorRegistry(), plugin_manager=pm)


# -- rindle metrics -------------------------------------------------------------------


def test_rindle_metrics_prints_the_gauges(run: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "rindle.toml").write_text(
        'database_url = "sqlite:///r.db"\n'
        '[storage.files]\ntype = "local"\nroot = "o"\n[profiles.p]\nstorage = "files"\n'
    )
    run("db", "upgrade")
    samples = parse(run("metrics").stdout)
    assert value(samples, "rindle_database_up") == 1
    assert value(samples, "rindle_sessions", state="initialized") == 0
    assert value(samples, "rindle_jobs_due") == 0


def test_rindle_metrics_on_a_missing_database_creates_nothing(
    run: Callable[..., Any], tmp_path: Path
) -> None:
    samples = parse(run("metrics").stdout)
    assert value(samples, "rindle_database_up") == 0
    assert list(tmp_path.iterdir()) == []


def _served_database_url(any_db: Database, tmp_path: Path) -> str:
    """A URL the ``rindle`` subprocess can open for *any_db* (its schema, on PostgreSQL)."""
    url = any_db.engine.url.render_as_string(hide_password=False)
    if any_db.dialect == "postgresql":
        with any_db.engine.connect() as conn:
            schema = conn.execute(sa.text("select current_schema()")).scalar_one()
        url += ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    return url


def test_rindle_metrics_serve(any_db: Database, pm: pluggy.PluginManager, tmp_path: Path) -> None:
    run_lifecycle(any_db, pm)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINDLE_")}
    env["RINDLE_DATABASE_URL"] = _served_database_url(any_db, tmp_path)
    command = "import sys; sys.argv[0] = 'rindle'; from rindle_core.cli import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", command, "metrics", "--serve", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = ""
        for line in process.stderr:
            if line.startswith("serving metrics on "):
                break
        assert line.startswith("serving metrics on "), line
        url = line.split()[3]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
        _, samples = scrape(url)
        assert value(samples, "rindle_database_up") == 1
        assert value(samples, "rindle_sessions", state="completed") == 1
        assert value(samples, "rindle_assets", state="available") == 1
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    assert code == 0
