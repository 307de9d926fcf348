"""The guide's "try it" steps: the example rindle.toml, the server command, the rindle CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent
RINDLE = [sys.executable, "-c", "from rindle_core.cli import main; main()"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``python -m rindle_memory`` on a free port; its URL."""
    command = [sys.executable, "-m", "rindle_memory", "--port", "0", "--bucket", "uploads"]
    command += ["--secret-file", str(tmp_path / "memory.key")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("serving http://127.0.0.1:"), line
            yield line.split()[1]
        finally:
            process.terminate()


def rindle(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RINDLE_LOAD_PLUGINS": "rindle-memory"}
    env.pop("RINDLE_DATABASE_URL", None)
    return subprocess.run(
        [*RINDLE, "-c", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=config.parent,
        timeout=120,
        check=False,
    )


def test_the_example_configuration_uploads(served: str, tmp_path: Path) -> None:
    text = (EXAMPLE / "rindle.toml").read_text()
    assert 'endpoint_url = "http://127.0.0.1:9050"' in text
    config = tmp_path / "rindle.toml"
    config.write_text(text.replace("http://127.0.0.1:9050", served))
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(6 * 1024 * 1024))

    for args in (
        ("db", "upgrade"),
        ("doctor",),
        ("upload", "report.pdf", "--profile", "docs", "--json"),
        ("upload", "report.pdf", "--profile", "docs", "--strategy", "multipart", "--json"),
    ):
        done = rindle(config, *args)
        assert done.returncode == 0, f"rindle {' '.join(args)}: {done.stderr}"
        if "--json" in args:
            assert json.loads(done.stdout)["asset"]["state"] == "available", done.stdout
