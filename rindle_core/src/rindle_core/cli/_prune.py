"""``rindle prune``: delete old finished session, part and job rows.

Its ages come from the flags, else from the configuration (``prune_after``,
``sweep_quarantined_after``, ``sweep_abandoned_after``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, overload

import click

from ._app import EXIT_FAILED, App, console, pass_app, print_json

__all__ = ["prune"]


class Days(click.FloatRange):
    """A number of days from one hour to ten years, said so in words."""

    name = "days"

    def __init__(self) -> None:
        super().__init__(min=1 / 24, max=3650)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            days = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of days", param, ctx)
        if not 1 / 24 <= days <= 3650:  # also refuses nan and inf
            self.fail(f"{value!r} is not from 0.042 (one hour) to 3650 days", param, ctx)
        return days

    def _describe_range(self) -> str:
        return "one hour to 3650 days"


_DAYS = Days()


@click.command()
@click.option(
    "--older-than",
    "days",
    type=_DAYS,
    default=None,
    metavar="DAYS",
    help="Delete rows finished longer ago than this many days  "
    "[default: prune_after in the configuration, 30 days].",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=1000,
    show_default=True,
    help="Rows per transaction.",
)
@click.option(
    "--quarantined-after",
    type=_DAYS,
    default=None,
    metavar="DAYS",
    help="Also delete quarantined assets (and their objects) untouched this many days  "
    "[default: sweep_quarantined_after in the configuration, else not at all].",
)
@click.option(
    "--abandoned-after",
    type=_DAYS,
    default=None,
    metavar="DAYS",
    help="Also delete abandoned (never used) assets untouched this many days  "
    "[default: sweep_abandoned_after in the configuration, else not at all].",
)
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def prune(
    app: App,
    days: float | None,
    batch_size: int,
    quarantined_after: float | None,
    abandoned_after: float | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Delete old session, part and job rows nobody needs any more.

    A session goes once it is over (completed, aborted, expired or failed),
    its deadline is older than --older-than, no remote cleanup is pending
    for it and its asset has settled; its part ledger goes with it. A job
    goes once it succeeded that long ago (failed jobs stay). With
    --quarantined-after / --abandoned-after, such assets untouched that long
    are deleted first, with their stored objects (not in a dry run). Batched,
    idempotent and safe to run concurrently and from cron. Exits 1 if an
    object could not be deleted (retried on the next run). Each age not
    given is the configuration's (prune_after, sweep_quarantined_after,
    sweep_abandoned_after).
    """
    config = app.config()
    older_than = _age(days, config.prune_after)
    quarantined = _age(quarantined_after, config.sweep_quarantined_after)
    abandoned = _age(abandoned_after, config.sweep_abandoned_after)
    broker = app.broker()
    swept = None
    if not dry_run and (quarantined or abandoned):
        swept = broker.sweep_assets(
            quarantined_after=quarantined, abandoned_after=abandoned, batch_size=batch_size
        )
    report = broker.prune(older_than=older_than, batch_size=batch_size, dry_run=dry_run)
    if as_json:
        print_json({**report.to_dict(), "assets": swept.to_dict() if swept else None})
    else:
        out = console()
        if swept is not None:
            out.print(
                f"deleted {swept.quarantined_deleted} quarantined and "
                f"{swept.abandoned_deleted} abandoned asset(s), "
                f"{swept.objects_deleted} object(s); {swept.object_failures} object(s) failed"
            )
        verb = "would delete" if dry_run else "deleted"
        out.print(
            f"{verb} {report.sessions} session(s), {report.parts} part(s), {report.jobs} job(s)"
            + ("" if dry_run else f" in {report.batches} batch(es)")
        )
    if swept is not None and swept.object_failures:
        click.echo(
            f"error: StorageError: {swept.object_failures} object(s) could not be deleted; "
            "they are retried on the next run",
            err=True,
        )
        raise click.exceptions.Exit(EXIT_FAILED)


@overload
def _age(days: float | None, seconds: float) -> dt.timedelta: ...
@overload
def _age(days: float | None, seconds: float | None) -> dt.timedelta | None: ...
def _age(days: float | None, seconds: float | None) -> dt.timedelta | None:
    """The flag's *days* if given, else the configuration's *seconds* (None: off)."""
    if days is not None:
        return dt.timedelta(days=days)
    return None if seconds is None else dt.timedelta(seconds=seconds)
