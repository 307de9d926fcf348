"""``rindle demo``: the whole lifecycle on embedded defaults, shown as it happens."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from rindle_core.cli import cli


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RINDLE_CONFIG", str(tmp_path / "ignored.toml"))  # the demo needs none
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def test_the_story_shows_every_transition_in_order() -> None:
    result = CliRunner().invoke(cli, ["demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert re.search(r"local receiver listening on http://127\.0\.0\.1:\d+", out)
    moves = re.findall(r"^\s+(session|asset)\s+\w{8}\s+(\w+) -> (\w+)", out, re.MULTILINE)
    assert moves == [
        # 1. accepted and promoted
        ("session", "initialized", "signed"),
        ("session", "signed", "uploaded"),
        ("session", "uploaded", "verifying"),
        ("session", "verifying", "completed"),
        ("asset", "staged", "validating"),
        ("asset", "validating", "analyzing"),
        ("asset", "analyzing", "promoting"),
        ("asset", "promoting", "available"),
        # 2. a type that lies about itself
        ("session", "initialized", "signed"),
        ("session", "signed", "uploaded"),
        ("session", "uploaded", "verifying"),
        ("session", "verifying", "completed"),
        ("asset", "staged", "validating"),
        ("asset", "validating", "analyzing"),
        ("asset", "analyzing", "quarantined"),
        # 3. abandoned, then expired by maintenance
        ("session", "initialized", "signed"),
        ("session", "signed", "expired"),
        ("asset", "staged", "abandoned"),
    ]
    assert "(type_mismatch: content is not image/png)" in out
    assert re.search(
        r"PUT \d+ bytes to http://127\.0\.0\.1:\d+/o/\S+\?\[REDACTED\] -> HTTP 200", out
    )
    assert "sig=" not in result.output


def test_json_and_cleanup(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True
    outcome = {
        u["name"]: (u["session"]["state"], u["asset"]["state"], u["asset"]["quarantine_reason"])
        for u in data["uploads"]
    }
    assert outcome == {
        "accepted": ("completed", "available", None),
        "quarantined": ("completed", "quarantined", "type_mismatch: content is not image/png"),
        "abandoned": ("expired", "abandoned", None),
    }
    assert data["workdir"] is None
    assert list(tmp_path.iterdir()) == []  # the temporary directory is gone


def test_keep_leaves_the_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--keep", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    workdir = Path(json.loads(result.stdout)["workdir"])
    assert workdir.parent == tmp_path
    assert (workdir / ".rindle" / "rindle.db").is_file()
    assert (workdir / "files" / "sunrise.png").is_file()
