"""``rindle upload --resume``: an interrupted multipart upload continues where it stopped.

The local backend's receiver is served by the command itself over real
HTTP; the interruption is a ``KeyboardInterrupt`` raised by the signer after
two parts were signed (as Ctrl-C would, while a part is sent).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from interrupts import interrupt_after

Run = Callable[..., Any]
PART = 5 * 1024 * 1024


@pytest.fixture
def big(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(256)) * (4 * PART // 256) + b"end")  # 5 parts
    return path


def test_an_interrupted_multipart_upload_resumes_with_the_missing_parts(
    run: Run, big: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first: list[int] = []
    interrupt_after(monkeypatch, 2, first)
    interrupted = run("upload", big.name, "--strategy", "multipart", "--part-size", "5MiB", code=1)
    assert first == [1, 2]
    (session,) = json.loads(run("sessions", "list", "--json").stdout)["sessions"]
    assert session["state"] not in ("aborted", "failed")  # kept for --resume
    assert f"rindle upload --resume {session['id']} " in interrupted.stderr

    resumed: list[int] = []
    interrupt_after(monkeypatch, 99, resumed)
    done = run("upload", "--resume", session["id"], big.name, "--json")
    # Only the parts storage did not hold. The local backend binds CRC32 part
    # checksums, so the client signs the next batch while a part is sent: the
    # interrupt at the third signature stops part 2 in flight (unless it won
    # the race and arrived).
    assert resumed in ([2, 3, 4, 5], [3, 4, 5])
    result = json.loads(done.stdout)
    assert result["session"]["id"] == session["id"]
    assert result["session"]["state"] == "completed"
    assert result["asset"]["byte_size"] == big.stat().st_size
    stored = big.parent / ".rindle" / "objects"
    (obj,) = [p for p in stored.rglob("*.bin") if ".rindle-multipart" not in p.parts]
    assert obj.read_bytes() == big.read_bytes()


def test_resume_refuses_what_cannot_be_resumed(run: Run, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    put = json.loads(run("upload", "a.txt", "--json").stdout)["session"]
    refused = run("upload", "--resume", put["id"], "a.txt", code=2)
    assert "only multipart and resumable sessions can be resumed" in refused.stderr
    missing = run("upload", "--resume", "0" * 32, "a.txt", code=1)
    assert "SessionNotFound" in missing.stderr


def test_a_finished_session_cannot_be_resumed(run: Run, big: Path) -> None:
    done = json.loads(
        run("upload", big.name, "--strategy", "multipart", "--json", "--no-progress").stdout
    )
    refused = run("upload", "--resume", done["session"]["id"], big.name, code=2)
    assert "is completed: it cannot be resumed" in refused.stderr
