"""The ``rindle`` command group."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ._app import App, handle_errors

__all__ = ["cli", "main"]


class _RindleGroup(click.Group):
    """Prints rindle's typed errors on one line instead of a traceback.

    Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.

    Commands registered with :meth:`lazy` are imported only when they run
    (or ``--help`` lists them): ``rindle --version`` and ``rindle upload``
    never import the modules of ``serve``, ``demo`` or ``doctor``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: _LazyCommands = _LazyCommands(self.commands)

    def lazy(self, name: str, where: str) -> None:
        """Register command *name*: the object ``module:attribute`` (relative to this package)."""
        self.commands.where[name] = where

    def invoke(self, ctx: click.Context) -> Any:
        with handle_errors():
            return super().invoke(ctx)


class _LazyCommands(dict[str, click.Command]):
    """A group's commands, each imported the first time it is looked up."""

    def __init__(self, commands: dict[str, click.Command]) -> None:
        super().__init__(commands)
        self.where: dict[str, str] = {}

    def _load(self, name: str) -> click.Command | None:
        if not super().__contains__(name):
            if name not in self.where:
                return None
            module, _, attribute = self.where[name].partition(":")
            command = getattr(importlib.import_module(module, __package__), attribute)
            super().__setitem__(name, command)
        return super().__getitem__(name)

    def __getitem__(self, name: str) -> click.Command:
        command = self._load(name)
        if command is None:
            raise KeyError(name)
        return command

    def get(self, name: str, default: Any = None) -> Any:
        command = self._load(name)
        return default if command is None else command

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or name in self.where

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*super().keys(), *self.where}))

    def __len__(self) -> int:
        return len({*super().keys(), *self.where})

    def keys(self) -> Any:
        return list(self)

    def values(self) -> Any:
        return [self[name] for name in self]

    def items(self) -> Any:
        return [(name, self[name]) for name in self]


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


# One line per command: its name and where it lives (imported when it runs).
cli.lazy("demo", "._demo:demo")
cli.lazy("upload", "._upload:upload")
cli.lazy("serve", "._serve:serve")
cli.lazy("sessions", "._records:sessions")
cli.lazy("assets", "._records:assets")
cli.lazy("worker", "._ops:worker")
cli.lazy("expire", "._ops:expire")
cli.lazy("prune", "._prune:prune")
cli.lazy("db", "._ops:db")
cli.lazy("doctor", "._doctor:doctor")
cli.lazy("relay", "._relay:relay")
cli.lazy("metrics", "._metrics:metrics")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="rindle")
