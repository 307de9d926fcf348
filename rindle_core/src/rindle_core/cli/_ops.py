"""Operations: ``rindle worker``, ``rindle expire`` and ``rindle db``."""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

import attrs
import click
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from .._errors import RindleError
from .._telemetry import log_event
from ..jobs import JobOutcome
from ..models import MaintenanceReport
from ._app import EXIT_FAILED, App, console, pass_app, print_json

if TYPE_CHECKING:
    from .._broker import Broker

__all__ = ["db", "expire", "worker"]

_log = logging.getLogger("rindle.cli")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")

# -----------------------------------------------------------------------------
# worker
# -----------------------------------------------------------------------------


class _Seconds(click.FloatRange):
    """A number of seconds in a range; refuses nan, which every comparison lets through."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if math.isnan(seconds):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return seconds


@click.command()
@click.option("--once", is_flag=True, help="Run the jobs due now, then exit.")
@click.option(
    "--interval",
    type=_Seconds(min=0.01, max=86_400),
    default=None,
    metavar="SECONDS",
    help="Sleep between polls when idle  [default: worker_interval, 2]",
)
@click.option(
    "--lease",
    type=_Seconds(min=1, max=86_400),
    default=None,
    metavar="SECONDS",
    help="Seconds a claim holds a job without renewal  [default: job_lease, 300]",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Jobs run per pass.",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="First put jobs that exhausted their attempts back in the queue.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="JSON: one object (--once) or one line per job."
)
@pass_app
def worker(
    app: App,
    once: bool,
    interval: float | None,
    lease: float | None,
    limit: int,
    retry_failed: bool,
    as_json: bool,
) -> None:
    """Run due jobs (promotion): once, or in a loop until Ctrl-C / SIGTERM.

    A pass that fails (the database is down, say) is logged and retried
    after the interval; with `--once` it fails the command. After an outage
    longer than the retry budget, `--retry-failed` re-queues the jobs that
    gave up (promotion is idempotent, so this is always safe). Each running
    job's lease is renewed every third of `--lease`; a worker that dies
    holds only the job it was running, until its lease runs out.
    """
    broker = app.broker()
    if lease is not None:
        broker.jobs.lease = lease
    if retry_failed:
        requeued = broker.jobs.retry_all_failed()
        console(stderr=True).print(f"{requeued} failed job(s) re-queued")  # stdout stays JSON
    pause = interval if interval is not None else app.config().worker_interval
    out = console()
    if once:
        outcomes = broker.run_jobs(limit)
        if as_json:
            print_json({"outcomes": [attrs.asdict(o) for o in outcomes]})
        else:
            for outcome in outcomes:
                out.print(_outcome_text(outcome))
            out.print(f"{len(outcomes)} job(s) run")
        return
    stop = threading.Event()
    with _stop_on_signals(stop):
        if not as_json:  # once the handlers are in place: Ctrl-C now stops cleanly
            console(stderr=True).print(
                f"worker {broker.jobs.worker_id} polling every {pause:g}s, "
                f"lease {broker.jobs.lease:g}s; Ctrl-C stops"
            )
        while not stop.is_set():
            try:
                outcomes = broker.run_jobs(limit)
            except (RindleError, SQLAlchemyError) as exc:
                log_event(
                    _log, logging.WARNING, "rindle.worker.pass_failed", error=type(exc).__name__
                )
                outcomes = []
            for outcome in outcomes:
                if as_json:
                    print_json(attrs.asdict(outcome), compact=True)
                else:
                    out.print(_outcome_text(outcome))
            if not outcomes:
                stop.wait(pause)
    if not as_json:
        console(stderr=True).print("worker stopped")


def _outcome_text(outcome: JobOutcome) -> Text:
    style = {"succeeded": "green", "retry": "yellow", "failed": "red"}.get(outcome.result, "dim")
    text = Text.assemble(
        f"job {outcome.job_id} {outcome.kind} ",
        (outcome.result, style),
        f" (attempt {outcome.attempts})",
    )
    if outcome.error:
        text.append(f": {outcome.error}")
    return text


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set *stop* (the current pass finishes); a second SIGINT interrupts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# -----------------------------------------------------------------------------
# expire
# -----------------------------------------------------------------------------


@click.command()
@click.option("--dry-run", is_flag=True, help="List what would expire; change nothing.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Sessions per batch  [default: expire_batch_size, 100]",
)
@_json_option
@pass_app
def expire(app: App, dry_run: bool, batch_size: int | None, as_json: bool) -> None:
    """Expire sessions past their deadline and clean up their remote uploads.

    Aborts remote multipart uploads, cancels resumable sessions, deletes
    stray objects and marks staged assets `abandoned`, batch after batch
    until nothing is due (a counter shows progress on a terminal), then
    reports the whole run. Cleanups are repeated
    once the last URL of a session has expired, so an object stored late
    is removed too. Safe to run concurrently and from cron. Exits 1 if a
    cleanup or an expiry failed (it is retried on a later run).
    """
    broker = app.broker()
    size = batch_size or app.config().expire_batch_size
    if dry_run:
        total = broker.expire_sessions(batch_size=size, dry_run=True)
    else:
        total = _drain(broker, size, _Progress.on_terminal(enabled=not as_json))
    if as_json:
        print_json(total.to_dict())
    else:
        _print_report(total)
    if total.cleanup_failures:
        click.echo(
            f"error: CleanupFailed: {total.cleanup_failures} remote cleanup(s) failed; "
            "they are retried on the next run",
            err=True,
        )
    if total.expiry_failures:
        click.echo(
            f"error: ExpiryFailed: {total.expiry_failures} session(s) could not be expired; "
            "they are retried on the next run",
            err=True,
        )
    if total.failures:
        raise click.exceptions.Exit(EXIT_FAILED)


def _drain(broker: Broker, size: int, progress: _Progress) -> MaintenanceReport:
    """Passes until one moves nothing: the whole backlog, however long.

    Counts are added up pass by pass; the ids are collected once (adding
    reports would copy them on every pass).
    """
    ids: list[str] = []
    total: MaintenanceReport | None = None
    try:
        while True:
            report = broker.expire_sessions(batch_size=size)
            ids.extend(report.expired_session_ids)
            counts = attrs.evolve(report, expired_session_ids=())
            total = counts if total is None else total + counts
            progress.show(len(ids), total)
            if not report.progressed:
                break
    finally:
        progress.close()
    assert total is not None  # the loop runs at least once
    return attrs.evolve(total, expired_session_ids=tuple(ids))


class _Progress:
    """A one-line counter on stderr while ``rindle expire`` drains, on a terminal only."""

    def __init__(self, stream: TextIO | None, interval: float = 0.2) -> None:
        self.stream = stream
        self.interval = interval
        self._shown_at = 0.0
        self._width = 0

    @staticmethod
    def on_terminal(*, enabled: bool) -> _Progress:
        stream = sys.stderr
        return _Progress(stream if enabled and _is_terminal(stream) else None)

    def show(self, expired: int, total: MaintenanceReport) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if now - self._shown_at < self.interval:
            return
        self._shown_at = now
        line = (
            f"expiring: {expired:,} session(s) expired, "
            f"{total.cleanups_finished + total.final_sweeps_scheduled:,} cleaned up, "
            f"{total.failures:,} failed, {total.batches:,} batch(es)"
        )
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def close(self) -> None:
        if self.stream is not None and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _print_report(report: MaintenanceReport) -> None:
    out = console()
    if report.dry_run:
        out.print(f"would expire {len(report.expired_session_ids)} session(s)")
        for session_id in report.expired_session_ids:
            out.print(f"  {session_id}")
        out.print(
            f"cleanup(s) due now: {report.cleanup_due} (pending in all: {report.cleanup_pending})"
        )
        return
    out.print(f"expired {len(report.expired_session_ids)} session(s) in {report.batches} batch(es)")
    for session_id in report.expired_session_ids:
        out.print(f"  {session_id}")
    out.print(
        f"remote cleanup: {report.cleanups_finished} finished, "
        f"{report.final_sweeps_scheduled} awaiting the final sweep, "
        f"{report.cleanup_failures} failed"
    )
    out.print(
        f"effects: {report.remote_aborted} remote upload(s) aborted, "
        f"{report.objects_deleted} object(s) deleted"
    )
    out.print(f"pending: {report.cleanup_pending} cleanup(s) wait for a final sweep or a retry")
    if report.expiry_failures:
        out.print(f"expiry failures: {report.expiry_failures}")


# -----------------------------------------------------------------------------
# db
# -----------------------------------------------------------------------------


@click.group()
def db() -> None:
    """The database schema (rindle's packaged Alembic migrations)."""


@db.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@_json_option
@pass_app
def upgrade(app: App, revision: str, as_json: bool) -> None:
    """Apply the migrations up to REVISION (creates rindle's tables)."""
    database = app.database()
    before = database.schema_revision()
    database.upgrade(revision)
    after = database.schema_revision()
    if as_json:
        print_json({"before": before, "after": after, "head": database.head_revision()})
    elif before == after:
        console().print(f"database schema already at {after}")
    else:
        console().print(f"database schema upgraded: {before or 'empty'} -> {after}")


@db.command()
@_json_option
@pass_app
def current(app: App, as_json: bool) -> None:
    """Show the applied revision and the newest one this rindle ships."""
    database = app.database()
    info: dict[str, Any] = {
        "current": database.schema_revision(),
        "head": database.head_revision(),
        "tables": database.has_tables(),
    }
    if as_json:
        print_json(info)
    else:
        state = "up to date" if info["current"] == info["head"] else "run `rindle db upgrade`"
        console().print(f"current {info['current'] or 'none'}, head {info['head']} ({state})")
