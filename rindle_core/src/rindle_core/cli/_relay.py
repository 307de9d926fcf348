"""``rindle relay sweep``: hand the jobs an engine never ran to the relays again."""

from __future__ import annotations

import importlib
import threading

import click
import pluggy

from .._errors import ConfigurationError, RindleError
from ..models import Job
from ..relays import DEFAULT_REDISPATCH_TIMEOUT, RedispatchReport, dispatch_job, redispatch_stale
from ._app import App, console, pass_app, print_json
from ._ops import _Seconds, _stop_on_signals

__all__ = ["relay"]


class NotDispatched(RindleError):
    """No relay took the job (each relay's own failure is logged)."""


@click.group()
def relay() -> None:
    """Relays to job engines (Celery, Dramatiq, RQ, procrastinate, arq)."""


def _load_relay(spec: str) -> object:
    """The object at ``module:attribute`` (a relay, or any dispatch plugin)."""
    module, _, attribute = spec.partition(":")
    if not module or not attribute:
        raise ConfigurationError(f"--relay {spec!r}: expected MODULE:ATTRIBUTE")
    try:
        target: object = importlib.import_module(module)
        for part in attribute.split("."):
            target = getattr(target, part)
    except ImportError as exc:
        raise ConfigurationError(
            f"--relay {spec!r}: cannot import {exc.name or module!r}"
        ) from None
    except AttributeError:
        raise ConfigurationError(f"--relay {spec!r}: {module} has no {attribute!r}") from None
    return target


def _relays(app: App, specs: tuple[str, ...]) -> pluggy.PluginManager:
    pm = app.plugin_manager()
    for spec in specs:
        plugin = _load_relay(spec)
        if pm.is_registered(plugin):
            continue
        pm.register(plugin, name=f"relay:{spec}")
    if not pm.hook.rindle_dispatch_job.get_hookimpls():
        raise ConfigurationError(
            "no relay to dispatch to: pass --relay MODULE:ATTRIBUTE (e.g. proj.tasks:relay) "
            "or install a plugin that implements rindle_dispatch_job"
        )
    return pm


@relay.command()
@click.option(
    "--relay",
    "specs",
    multiple=True,
    metavar="MODULE:ATTR",
    help="A relay object to dispatch through (repeatable); plugins installed are used too.",
)
@click.option(
    "--timeout",
    type=_Seconds(min=0, max=86_400 * 7),
    default=DEFAULT_REDISPATCH_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="Re-dispatch jobs due (or whose lease ran out) longer ago than this.",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="Jobs per pass.",
)
@click.option("--loop", is_flag=True, help="Sweep every --interval until Ctrl-C / SIGTERM.")
@click.option(
    "--interval",
    type=_Seconds(min=0.1, max=86_400),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between sweeps with --loop.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def sweep(
    app: App,
    specs: tuple[str, ...],
    timeout: float,
    limit: int,
    loop: bool,
    interval: float,
    as_json: bool,
) -> None:
    """Hand jobs an engine never ran to the relays again.

    A job is handed over again when it has been due for longer than
    `--timeout` without being run, retried or re-dispatched, or when its
    lease ran out (its worker died). A second delivery of a job that is in
    fact still queued is harmless: the engine's task runs it under rindle's
    claim.
    """
    pm = _relays(app, specs)
    database = app.config().open_database()
    app.stack.callback(database.dispose)
    app.name_database()

    def hand_over(job: Job) -> None:
        if dispatch_job(pm, job) == 0:  # each relay's failure is logged by dispatch_job
            raise NotDispatched(job.id)

    def once() -> RedispatchReport:
        return redispatch_stale(database, hand_over, timeout=timeout, limit=limit)

    def show(report: RedispatchReport) -> None:
        if as_json:
            print_json(
                {"redispatched": list(report.job_ids), "failures": report.failures},
                compact=loop,
            )
        else:
            console().print(f"{report.redispatched} job(s) re-dispatched")

    if not loop:
        show(once())
        return
    stop = threading.Event()
    with _stop_on_signals(stop):
        while not stop.is_set():
            show(once())
            stop.wait(interval)
