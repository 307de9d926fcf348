"""Rendering sessions, assets and reports for people (rich) and scripts (JSON)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from ..models import Asset, UploadSession
from ..states import AssetState, SessionState

__all__ = [
    "asset_table",
    "human_size",
    "record_table",
    "session_table",
    "sessions_table",
    "state_text",
]

_GOOD = {SessionState.COMPLETED.value, AssetState.AVAILABLE.value, AssetState.READY.value}
_BAD = {
    SessionState.FAILED.value,
    SessionState.EXPIRED.value,
    SessionState.ABORTED.value,
    AssetState.QUARANTINED.value,
    AssetState.ABANDONED.value,
    AssetState.DELETED.value,
}


def human_size(size: int | None) -> str:
    """``1.5 MiB``-style sizes; ``-`` when unknown."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def state_text(state: str) -> Text:
    """A state, coloured: green when done well, red when it ended badly."""
    style = "green" if state in _GOOD else "red" if state in _BAD else "yellow"
    return Text(state, style=style)


def _when(value: dt.datetime | None) -> str:
    return "-" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def record_table(title: str, fields: Mapping[str, Any]) -> Table:
    """A two-column field/value table; values are never read as markup."""
    table = Table(title=title, show_header=False, title_justify="left", box=None, padding=(0, 2))
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in fields.items():
        if value is None or value == {} or value == []:
            continue
        if isinstance(value, Mapping | list):
            value = json.dumps(value, default=str)
        table.add_row(name, state_text(value) if name == "state" else Text(str(value)))
    return table


def session_table(session: UploadSession) -> Table:
    """One session's fields (never its session URI)."""
    data = session.to_dict()
    data["declared_size"] = (
        human_size(session.declared_size) if session.declared_size is not None else None
    )
    data["part_size"] = human_size(session.part_size) if session.part_size is not None else None
    for key in ("expires_at", "created_at", "updated_at", "verified_at", "session_uri_expires_at"):
        data[key] = _when(getattr(session, key)) if getattr(session, key) else None
    return record_table(f"session {session.id}", data)


def asset_table(asset: Asset | Mapping[str, Any]) -> Table:
    """One asset's fields: a record, or the upload API's ``Asset`` shape."""
    data: dict[str, Any] = dict(asset) if isinstance(asset, Mapping) else asset.to_dict()
    size = data.get("byte_size")
    data["byte_size"] = human_size(size) if size is not None else None
    for key in ("created_at", "updated_at"):
        value = data.get(key)
        data[key] = _when(dt.datetime.fromisoformat(value) if isinstance(value, str) else value)
    return record_table(f"asset {data['id']}", data)


def sessions_table(sessions: Iterable[UploadSession]) -> Table:
    """Sessions, one per row (``rindle sessions show`` has every field)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", no_wrap=True, min_width=32)
    for name in ("profile", "strategy", "state", "size", "created (UTC)"):
        table.add_column(name)
    for s in sessions:
        table.add_row(
            s.id,
            Text(s.profile),
            _SHORT_STRATEGY.get(s.upload_strategy, s.upload_strategy),
            state_text(s.state.value),
            human_size(s.declared_size),
            s.created_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        )
    return table


_SHORT_STRATEGY = {"presigned_put": "put", "presigned_post": "post"}
