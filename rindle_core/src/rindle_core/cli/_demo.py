"""``rindle demo``: the whole lifecycle, for real, on embedded defaults.

In a temporary directory: SQLite, local storage, and the local receiver on
127.0.0.1. Three uploads go over HTTP through :class:`UploadClient`: one is
accepted and promoted to ``available``, one lies about its type and is
quarantined, one is abandoned and expired by the maintenance pass. Every
state change is printed as it happens by an observer plugin.
"""

from __future__ import annotations

import datetime as dt
import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .._broker import Broker
from .._errors import RindleError
from .._redaction import redact_url
from ..client import UploadClient
from ..config import embedded_config
from ..local import LocalStorage, serve_receiver
from ..models import Asset, MaintenanceReport, UploadSession
from ..plugins import hookimpl, make_plugin_manager
from ..states import AssetState, SessionState
from ._app import console, print_json
from ._render import state_text

__all__ = ["DemoFailed", "demo"]


class DemoFailed(RindleError):
    """An upload of the demo did not end in the state it should have."""


@attrs.frozen
class Transition:
    """One state change an observer saw."""

    machine: str
    id: str
    from_state: str
    to_state: str
    reason: str | None = None


class _Observer:
    """A rindle plugin that reports every transition the moment it commits."""

    def __init__(self, report: Callable[[Transition], None]) -> None:
        self.report = report

    @hookimpl
    def rindle_session_transitioned(
        self, session: UploadSession, from_state: str, to_state: str
    ) -> None:
        self.report(Transition("session", session.id, from_state, to_state))

    @hookimpl
    def rindle_asset_transitioned(self, asset: Asset, from_state: str, to_state: str) -> None:
        self.report(Transition("asset", asset.id, from_state, to_state, asset.quarantine_reason))

    @hookimpl
    def rindle_maintenance_run(self, report: MaintenanceReport) -> None:
        count = len(report.expired_session_ids)
        self.report(Transition("maintenance", "pass", "", f"{count} session(s) expired"))


@click.command()
@click.option("--keep", is_flag=True, help="Keep the temporary directory and print its path.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the story.")
def demo(keep: bool, as_json: bool) -> None:
    """Run real uploads through the whole lifecycle on embedded defaults.

    Needs nothing but rindle-core: everything happens in a temporary
    directory (your configuration is not used), and the bytes go over HTTP
    to a local receiver on 127.0.0.1. Exits 0 when every upload ends as
    expected: one available, one quarantined, one expired.
    """
    workdir = Path(tempfile.mkdtemp(prefix="rindle-demo-"))
    try:
        story = _Story(None if as_json else console())
        results = _run(workdir, story)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if as_json:
        print_json({"ok": True, "workdir": str(workdir) if keep else None, "uploads": results})
    elif keep:
        console().print(Text(f"kept the demo's files in {workdir}"))


class _Story:
    """Prints the demo as it unfolds (or stays silent) and records transitions."""

    def __init__(self, out: Console | None) -> None:
        self.out = out
        self.transitions: list[Transition] = []

    def say(self, *parts: str | tuple[str, str] | Text) -> None:
        if self.out is not None:
            self.out.print(Text.assemble(*parts))

    def saw(self, event: Transition) -> None:
        self.transitions.append(event)
        if event.machine == "maintenance":
            self.say(("  maintenance ", "bold"), event.to_state)
            return
        line = Text.assemble(
            f"  {event.machine:<7} {event.id[:8]}  ",
            state_text(event.from_state),
            " -> ",
            state_text(event.to_state),
        )
        if event.reason and event.to_state == AssetState.QUARANTINED.value:
            line.append(f"  ({event.reason})", style="red")
        if self.out is not None:
            self.out.print(line)


def _run(workdir: Path, story: _Story) -> list[dict[str, Any]]:
    config = embedded_config(workdir / ".rindle")
    root = Path(config.storages["local"].options["root"])
    root.mkdir(parents=True)
    files = workdir / "files"
    files.mkdir()
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(_Observer(story.saw), name="rindle-demo-observer")
    story.say(("rindle demo", "bold"), f" in {workdir}")
    with serve_receiver(root, None, "127.0.0.1", 0) as server:
        story.say(f"local receiver listening on {server.url}")
        storage = LocalStorage(root, base_url=server.url)
        database = config.open_database()
        try:
            broker = config.build_broker(
                plugin_manager=pm, storages={"local": storage}, database=database
            )
            story.say("database ", (config.safe_database_url, "dim"), " (migrated)")
            with UploadClient() as client:
                results = [
                    _accepted(broker, client, files, story),
                    _liar(broker, client, files, story),
                    _abandoned(broker, files, story),
                ]
        finally:
            database.dispose()
    _summary(results, story)
    return results


def _send(
    broker: Broker, client: UploadClient, story: _Story, path: Path, content_type: str
) -> tuple[UploadSession, Asset]:
    session = broker.initiate_session(
        "default", filename=path.name, content_type=content_type, size=path.stat().st_size
    )
    story.say(f"  session {session.id[:8]}  created (", state_text(session.state.value), ")")
    signed = broker.sign_url(session.id)
    response = client.put(signed.presigned, path)
    story.say(
        f"  client  PUT {path.stat().st_size} bytes to {redact_url(signed.presigned.url)} "
        f"-> HTTP {response.status_code}"
    )
    verified = broker.verify_completion(session.id)
    return verified.session, broker.get_asset(verified.asset.id)


def _accepted(broker: Broker, client: UploadClient, files: Path, story: _Story) -> dict[str, Any]:
    path = files / "sunrise.png"
    path.write_bytes(_png(16, 16))
    story.say(("\n1. an honest PNG", "bold"), f" ({path.name}, image/png)")
    session, asset = _send(broker, client, story, path, "image/png")
    return _result("accepted", session, asset, AssetState.AVAILABLE)


def _liar(broker: Broker, client: UploadClient, files: Path, story: _Story) -> dict[str, Any]:
    path = files / "holiday.png"
    path.write_bytes(b"I am plain text, not a picture.\n" * 8)
    story.say(("\n2. text that claims to be a PNG", "bold"), f" ({path.name}, image/png)")
    session, asset = _send(broker, client, story, path, "image/png")
    return _result("quarantined", session, asset, AssetState.QUARANTINED)


def _abandoned(broker: Broker, files: Path, story: _Story) -> dict[str, Any]:
    path = files / "draft.pdf"
    story.say(("\n3. an upload that never happens", "bold"), f" ({path.name}, application/pdf)")
    session = broker.initiate_session(
        "default", filename=path.name, content_type="application/pdf", size=1024
    )
    story.say(f"  session {session.id[:8]}  created (", state_text(session.state.value), ")")
    broker.sign_url(session.id)
    later = session.expires_at + dt.timedelta(seconds=1)
    story.say(
        f"  the client goes away; maintenance runs after the deadline ({later:%Y-%m-%d %H:%M} UTC)"
    )
    broker.expire_sessions(now=later)
    current = broker.get_session(session.id)
    return _result("abandoned", current, broker.get_asset(current.asset_id), AssetState.ABANDONED)


def _result(
    name: str, session: UploadSession, asset: Asset, expected: AssetState
) -> dict[str, Any]:
    if asset.state is not expected:
        raise DemoFailed(f"the {name} upload ended {asset.state.value}, not {expected.value}")
    if name == "abandoned" and session.state is not SessionState.EXPIRED:
        raise DemoFailed(f"the abandoned session ended {session.state.value}, not expired")
    return {
        "name": name,
        "session": {
            "id": session.id,
            "state": session.state.value,
            "upload_strategy": session.upload_strategy,
        },
        "asset": {
            "id": asset.id,
            "state": asset.state.value,
            "byte_size": asset.byte_size,
            "content_type": asset.content_type,
            "quarantine_reason": asset.quarantine_reason,
        },
    }


def _summary(results: list[dict[str, Any]], story: _Story) -> None:
    if story.out is None:
        return
    table = Table(title="\noutcome", title_justify="left")
    for column in ("upload", "session", "asset", "reason"):
        table.add_column(column)
    for r in results:
        table.add_row(
            r["name"],
            state_text(r["session"]["state"]),
            state_text(r["asset"]["state"]),
            Text(r["asset"]["quarantine_reason"] or ""),
        )
    story.out.print(table)


def _png(width: int, height: int) -> bytes:
    """A valid RGB PNG: a small gradient."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 16 % 256, y * 16 % 256, 128)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
