"""``rindle expire`` drains the whole backlog, with a counter on a terminal (issue 12, 3)."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest
from click.testing import Result
from maintenance_rows import insert_sessions
from test_cli_ops import CONFIG, Run, errors

from rindle_core.cli import _ops
from rindle_core.config import load_config

LONG_AGO = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)


@pytest.fixture
def configured(tmp_path: Path, run: Run) -> Path:
    path = tmp_path / "rindle.toml"
    path.write_text(textwrap.dedent(CONFIG))
    run("db", "upgrade")
    return path


def stale(config_path: Path, count: int) -> set[str]:
    """*count* sessions that expired days ago and never handed out a URL."""
    database = load_config(config_path, environ={}).open_database()
    try:
        with database.transaction() as conn:
            return set(
                insert_sessions(
                    conn,
                    count,
                    state="initialized",
                    expires_at=LONG_AGO,
                    created_at=LONG_AGO,
                    profile="docs",
                    storage="files",
                )
            )
    finally:
        database.dispose()


def test_one_run_drains_more_batches_than_the_old_cap(run: Run, configured: Path) -> None:
    """One run used to stop after 1000 batches; now it goes on until nothing is due."""
    ids = stale(configured, 1030)
    result = run("expire", "--batch-size", "1", "--json")
    report = json.loads(result.stdout)
    assert set(report["expired_session_ids"]) == ids
    assert report["batches"] == 1031  # one per session, then one that found nothing
    assert (report["cleanup_pending"], report["cleanup_failures"]) == (0, 0)
    assert json.loads(run("expire", "--json").stdout)["expired_session_ids"] == []


def _on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ops, "_is_terminal", lambda stream: True)
    monkeypatch.setattr(_ops._Progress, "__init__", _eager_init)


def _eager_init(self: _ops._Progress, stream: object, interval: float = 0.2) -> None:
    _original_init(self, stream, interval=0.0)  # type: ignore[arg-type]


_original_init = _ops._Progress.__init__


def progress_lines(result: Result) -> list[str]:
    return [part for part in errors(result).split("\r") if part.strip()]


def test_a_terminal_shows_a_counter_then_the_totals(
    run: Run, configured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale(configured, 5)
    _on_a_terminal(monkeypatch)
    result = run("expire", "--batch-size", "2")
    lines = progress_lines(result)
    assert lines[0] == "expiring: 2 session(s) expired, 0 cleaned up, 0 failed, 1 batch(es)"
    assert lines[-1].rstrip() == (
        "expiring: 5 session(s) expired, 0 cleaned up, 0 failed, 4 batch(es)"
    )
    assert errors(result).endswith("\r")  # the counter line is wiped before the totals
    assert "expired 5 session(s) in 4 batch(es)" in result.stdout


def test_no_counter_for_scripts(
    run: Run, configured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale(configured, 3)
    assert errors(run("expire", "--batch-size", "2")) == ""  # not a terminal
    _on_a_terminal(monkeypatch)
    stale(configured, 3)
    result = run("expire", "--batch-size", "2", "--json")
    assert errors(result) == ""  # --json: the output is for a program
    assert len(json.loads(result.stdout)["expired_session_ids"]) == 3
