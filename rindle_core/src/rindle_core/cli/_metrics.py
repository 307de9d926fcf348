"""``rindle metrics``: rindle's state gauges in the Prometheus text format, once or served."""

from __future__ import annotations

import click

from .._errors import ConfigurationError
from ._app import App, pass_app

__all__ = ["metrics"]

_HINT = 'rindle metrics needs the "prometheus" extra: pip install "rindle-core[prometheus]"'


@click.command()
@click.option(
    "--serve",
    "port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Serve them at http://HOST:PORT/metrics until interrupted (0: any free port).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@pass_app
def metrics(app: App, port: int | None, host: str) -> None:
    """Print sessions, assets and jobs by state, the due jobs and the oldest one's age.

    Read from the database at each scrape (see docs/observability.md). The
    upload and job counters live in the processes doing the work: mount
    rindle_core.contrib.prometheus there.
    """
    try:
        from prometheus_client import CollectorRegistry, generate_latest, start_http_server

        from ..contrib.prometheus import StateCollector
    except ImportError:
        raise ConfigurationError(_HINT) from None
    registry = CollectorRegistry()
    registry.register(StateCollector(app.database()))
    if port is None:
        click.echo(generate_latest(registry).decode(), nl=False)
        return
    server, thread = start_http_server(port, host, registry)
    try:
        click.echo(
            f"serving metrics on http://{host}:{server.server_port}/metrics (Ctrl-C stops)",
            err=True,
        )
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
