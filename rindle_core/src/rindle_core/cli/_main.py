"""The ``rindle`` command group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ._app import App, handle_errors
from ._demo import demo
from ._doctor import doctor
from ._ops import db, expire, worker
from ._records import assets, sessions
from ._serve import serve
from ._upload import upload

__all__ = ["cli", "main"]


class _RindleGroup(click.Group):
    """Prints rindle's typed errors on one line instead of a traceback.

    Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.
    """

    def invoke(self, ctx: click.Context) -> Any:
        with handle_errors():
            return super().invoke(ctx)


@click.group(
    name="rindle",
    cls=_RindleGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Configuration file  "
    "[default: $RINDLE_CONFIG, else ./rindle.toml, else the embedded default]",
)
@click.option("-v", "--verbose", count=True, help="Log rindle's events to stderr (-vv: debug).")
@click.version_option(
    package_name="rindle-core", prog_name="rindle", message="%(prog)s %(version)s"
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, verbose: int) -> None:
    """rindle: durable direct-to-storage uploads, from the command line.

    Start with `rindle demo`. Without a configuration file, rindle uses the
    embedded default: SQLite and local storage under ./.rindle/, one
    profile named `default`, jobs run inline.
    """
    app = App(config_path, verbose)
    ctx.obj = app
    ctx.with_resource(app.session())


cli.add_command(demo)
cli.add_command(upload)
cli.add_command(serve)
cli.add_command(sessions)
cli.add_command(assets)
cli.add_command(worker)
cli.add_command(expire)
cli.add_command(db)
cli.add_command(doctor)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="rindle")
