"""``rindle sessions list|show`` and ``rindle assets show``."""

from __future__ import annotations

import click

from ..states import SessionState
from ._app import App, console, pass_app, print_json
from ._render import asset_table, session_table, sessions_table

__all__ = ["assets", "sessions"]

_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


@click.group()
def sessions() -> None:
    """Inspect upload sessions."""


@sessions.command("list")
@click.option(
    "--state",
    type=click.Choice([s.value for s in SessionState]),
    help="Only sessions in this state.",
)
@click.option("--profile", "profile_name", metavar="NAME", help="Only sessions of this profile.")
@click.option("--owner", metavar="ID", help="Only sessions of this owner.")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=50,
    show_default=True,
    help="Newest sessions shown at most.",
)
@_json_option
@pass_app
def list_sessions(
    app: App,
    state: str | None,
    profile_name: str | None,
    owner: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List sessions, newest first."""
    found = app.broker().list_sessions(state=state, profile=profile_name, owner=owner, limit=limit)
    if as_json:
        print_json({"sessions": [s.to_dict() for s in found]})
    elif not found:
        console().print("no sessions")
    else:
        console().print(sessions_table(found))


@sessions.command("show")
@click.argument("session_id")
@_json_option
@pass_app
def show_session(app: App, session_id: str, as_json: bool) -> None:
    """Show one session (its resumable session URI, a secret, is never shown)."""
    session = app.broker().get_session(session_id)
    if as_json:
        print_json({"session": session.to_dict()})
    else:
        console().print(session_table(session))


@click.group()
def assets() -> None:
    """Inspect assets."""


@assets.command("show")
@click.argument("asset_id")
@_json_option
@pass_app
def show_asset(app: App, asset_id: str, as_json: bool) -> None:
    """Show one asset, with its quarantine reason if it has one."""
    asset = app.broker().get_asset(asset_id)
    if as_json:
        print_json({"asset": asset.to_dict()})
    else:
        console().print(asset_table(asset))
