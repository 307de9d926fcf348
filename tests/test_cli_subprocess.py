"""The installed ``rindle`` console script, run as a real process."""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rindle_core.cli._demo import _png

SCRIPT = Path(sys.executable).with_name("rindle")


@pytest.fixture
def env() -> dict[str, str]:
    if not SCRIPT.is_file():
        pytest.fail(f"the rindle console script is not installed at {SCRIPT}", pytrace=False)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RINDLE_")}
    clean["COLUMNS"] = "120"
    return clean


def rindle(
    cwd: Path, env: dict[str, str], *args: str, code: int = 0
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == code, (done.stdout, done.stderr)
    return done


def test_version_and_help(tmp_path: Path, env: dict[str, str]) -> None:
    version = importlib.metadata.version("rindle-core")
    assert rindle(tmp_path, env, "--version").stdout == f"rindle {version}\n"
    assert "Commands:" in rindle(tmp_path, env, "--help").stdout


def test_demo(tmp_path: Path, env: dict[str, str]) -> None:
    out = rindle(tmp_path, env, "demo").stdout
    for word in ("available", "quarantined", "expired", "abandoned"):
        assert word in out
    assert list(tmp_path.iterdir()) == []  # nothing left in the working directory


def test_a_whole_session_from_the_shell(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "photo.png").write_bytes(_png(32, 32))
    uploaded = json.loads(rindle(tmp_path, env, "upload", "photo.png", "--json").stdout)
    session_id, asset_id = uploaded["session"]["id"], uploaded["asset"]["id"]
    assert uploaded["asset"]["state"] == "available"
    shown = json.loads(rindle(tmp_path, env, "sessions", "show", session_id, "--json").stdout)
    assert shown["session"]["state"] == "completed"
    asset = json.loads(rindle(tmp_path, env, "assets", "show", asset_id, "--json").stdout)
    assert asset["asset"]["byte_size"] == (tmp_path / "photo.png").stat().st_size
    listed = rindle(tmp_path, env, "sessions", "list").stdout
    assert session_id in listed
    assert json.loads(rindle(tmp_path, env, "expire", "--json").stdout)["expired_session_ids"] == []
    assert json.loads(rindle(tmp_path, env, "doctor", "--json").stdout)["ok"] is True


def test_exit_codes_and_one_line_errors(tmp_path: Path, env: dict[str, str]) -> None:
    missing = "0123456789abcdef" * 2
    # A read creates nothing (ADR 0092): the embedded default does not exist yet.
    done = rindle(tmp_path, env, "sessions", "show", missing, code=2)
    assert done.stderr.startswith("error: ConfigurationError: the database ")
    assert "does not exist yet" in done.stderr and done.stderr.count("\n") == 1
    rindle(tmp_path, env, "db", "upgrade")
    done = rindle(tmp_path, env, "sessions", "show", missing, code=1)
    database = tmp_path / ".rindle" / "rindle.db"
    assert done.stderr == (
        f"database: sqlite:///{database} (embedded default)\n"
        f"error: SessionNotFound: upload session '{missing}' not found\n"
    )
    assert done.stdout == ""
    (tmp_path / "rindle.toml").write_text('database_url = "sqlite:///r.db"\njob_mode = "later"\n')
    done = rindle(tmp_path, env, "sessions", "list", code=2)
    assert done.stderr == (
        f"error: ConfigurationError: {tmp_path / 'rindle.toml'}: job_mode: "
        "must be 'inline' or 'worker', got 'later'\n"
    )
    done = rindle(tmp_path, env, "upload", "nothing-here.txt", code=2)
    assert "does not exist" in done.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_worker_loop_stops_cleanly(tmp_path: Path, env: dict[str, str], signum: int) -> None:
    process = subprocess.Popen(
        [str(SCRIPT), "worker", "--interval", "0.2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        named = process.stderr.readline()  # the database it uses (ADR 0091)
        assert named.startswith("database: "), named
        first = process.stderr.readline()  # printed once the worker is ready
        assert "polling every 0.2s" in first, first
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "worker stopped" in stderr
    assert "Traceback" not in stderr
