"""``rindle upload`` on the local backend: the CLI is the client, bytes go over HTTP."""

from __future__ import annotations

import json
import textwrap
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from rindle_core import TransferFailed
from rindle_core.cli._demo import _png
from rindle_core.client import UploadClient

Run = Callable[..., Result]


def errors(result: Result) -> str:
    """stderr after its first line, which names the database (ADR 0091)."""
    named, _, rest = result.stderr.partition("\n")
    assert named.startswith("database: "), result.stderr
    return rest


def upload_json(run: Run, *args: str) -> dict[str, Any]:
    result = run("upload", *args, "--json")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def write_config(directory: Path, text: str) -> Path:
    path = directory / "rindle.toml"
    path.write_text(textwrap.dedent(text))
    return path


AVATARS = """
    database_url = "sqlite:///rindle.db"
    [storage.files]
    type = "local"
    root = "./objects"
    [profiles.avatars]
    storage = "files"
    allow_mime = ["image/png", "image/jpeg"]
    max_bytes = 10_000_000
"""


def test_put_on_the_embedded_default(run: Run, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(_png(8, 8))
    data = upload_json(run, str(photo))
    session, asset = data["session"], data["asset"]
    assert session["state"] == "completed"
    assert session["upload_strategy"] == "presigned_put"
    assert len(session["id"]) == 32
    assert asset["state"] == "available"
    assert asset["byte_size"] == photo.stat().st_size
    assert asset["content_type"] == "image/png"
    assert asset["quarantine_reason"] is None
    assert asset["filename"] == "photo.png"
    stored = tmp_path / ".rindle" / "objects" / asset["storage_key"]
    assert stored.read_bytes() == photo.read_bytes()


def test_human_output(run: Run, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    result = run("upload", "notes.txt")
    assert "completed" in result.stdout
    assert "available" in result.stdout
    assert "text/plain" in result.stdout
    assert errors(result) == ""


def test_a_lying_file_is_quarantined_with_its_reason(run: Run, tmp_path: Path) -> None:
    (tmp_path / "holiday.png").write_text("plain text, not a picture\n" * 4)
    data = upload_json(run, "holiday.png")
    assert data["session"]["state"] == "completed"
    assert data["asset"]["state"] == "quarantined"
    assert data["asset"]["quarantine_reason"] == "type_mismatch: content is not image/png"
    human = run("assets", "show", data["asset"]["id"])
    assert "type_mismatch" in human.stdout


@pytest.mark.parametrize(
    ("name", "options", "declared"),
    [
        ("notes.txt", [], "text/plain"),
        ("blob.weird-ext", [], "application/octet-stream"),
        ("noext", [], "application/octet-stream"),
        ("README", ["--content-type", "Text/Plain; charset=utf-8"], "text/plain"),
    ],
)
def test_content_type_option_then_extension_then_default(
    run: Run, tmp_path: Path, name: str, options: list[str], declared: str
) -> None:
    (tmp_path / name).write_text("some text\n")
    data = upload_json(run, name, *options)
    assert data["asset"]["declared_content_type"] == declared


def test_filename_option(run: Run, tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("x\n")
    data = upload_json(run, "x.txt", "--filename", "report.txt")
    assert data["asset"]["filename"] == "report.txt"


def test_configured_local_storage_with_the_issue_shape(run: Run, tmp_path: Path) -> None:
    write_config(tmp_path, AVATARS)
    run("db", "upgrade")
    (tmp_path / "me.png").write_bytes(_png(4, 4))
    data = upload_json(run, "me.png", "--profile", "avatars")
    assert data["asset"]["state"] == "available"
    assert (tmp_path / "objects" / data["asset"]["storage_key"]).is_file()
    assert not (tmp_path / ".rindle").exists()  # the embedded default stayed unused


def test_the_profile_refuses_at_the_door(run: Run, tmp_path: Path) -> None:
    write_config(tmp_path, AVATARS)
    run("db", "upgrade")
    (tmp_path / "notes.txt").write_text("hello\n")
    result = run("upload", "notes.txt", "--profile", "avatars", code=1)
    assert errors(result) == "error: PolicyViolation: mime_not_allowed: text/plain\n"
    assert json.loads(run("sessions", "list", "--json").stdout) == {"sessions": []}


def test_worker_mode_leaves_promotion_to_the_worker(run: Run, tmp_path: Path) -> None:
    write_config(tmp_path, AVATARS.replace("database_url", 'job_mode = "worker"\n    database_url'))
    run("db", "upgrade")
    (tmp_path / "me.png").write_bytes(_png(4, 4))
    data = upload_json(run, "me.png", "-p", "avatars")
    assert data["session"]["state"] == "completed"
    assert data["asset"]["state"] == "validating"
    human = run("upload", "me.png", "-p", "avatars")
    assert "rindle worker" in human.stdout
    outcomes = json.loads(run("worker", "--once", "--json").stdout)["outcomes"]
    assert [o["result"] for o in outcomes] == ["succeeded", "succeeded"]
    shown = json.loads(run("assets", "show", data["asset"]["id"], "--json").stdout)
    assert shown["asset"]["state"] == "available"


def test_unsupported_strategy_on_local(run: Run, tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"x" * 10)
    result = run("upload", "a.bin", "--strategy", "resumable", code=1)
    assert errors(result) == (
        "error: UploadUnsupported: capability resumable_upload "
        "is not supported by storage 'local'\n"
    )
    assert json.loads(run("sessions", "list", "--json").stdout) == {"sessions": []}


def test_unknown_profile(run: Run, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    result = run("upload", "a.txt", "--profile", "nope", code=1)
    assert errors(result) == "error: UnknownProfile: unknown profile 'nope'\n"


def test_missing_file(run: Run) -> None:
    result = run("upload", "absent.png", code=2)
    assert "absent.png" in result.stderr
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--part-size", "8MiB"], "--part-size and --concurrency apply to multipart"),
        (["--concurrency", "3"], "--part-size and --concurrency apply to multipart"),
        (["--strategy", "resumable", "--part-size", "1000"], "multiple of 256 KiB"),
        (["--strategy", "multipart", "--part-size", "lots"], "expected a size"),
        (["--strategy", "sideways"], "'sideways' is not one of"),
        (["--concurrency", "0"], "0 is not in the range"),
    ],
)
def test_bad_options_are_usage_errors(
    run: Run, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "a.txt").write_text("a")
    result = run("upload", "a.txt", *args, code=2)
    assert message in result.stderr


def test_profile_is_required_when_there_are_several(run: Run, tmp_path: Path) -> None:
    write_config(tmp_path, AVATARS + "[profiles.docs]\nstorage = 'files'\n")
    (tmp_path / "a.txt").write_text("a")
    result = run("upload", "a.txt", code=2)
    assert "--profile is required (configured profiles: avatars, docs)" in result.stderr


def test_a_failed_transfer_aborts_the_session(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_put(self: UploadClient, request: Any, path: Any, **kwargs: Any) -> Any:
        raise TransferFailed("PUT http://127.0.0.1/o/x?[REDACTED] returned HTTP 503", status=503)

    monkeypatch.setattr(UploadClient, "put", broken_put)
    (tmp_path / "a.txt").write_text("a")
    result = run("upload", "a.txt", code=1)
    assert errors(result).startswith("error: TransferFailed: PUT")
    (session,) = json.loads(run("sessions", "list", "--json").stdout)["sessions"]
    assert session["state"] == "aborted"


def test_signatures_never_reach_the_output(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls: list[str] = []
    original = UploadClient.put

    def spy(self: UploadClient, request: Any, path: Any, **kwargs: Any) -> Any:
        urls.append(request.url)
        return original(self, request, path, **kwargs)

    monkeypatch.setattr(UploadClient, "put", spy)
    (tmp_path / "a.txt").write_text("a")
    result = run("-vv", "upload", "a.txt")
    (url,) = urls
    signature = url.split("sig=", 1)[1]
    assert len(signature) > 16
    assert "rindle.session.transition" in result.stderr  # -v logs the events
    assert signature not in result.output
    assert signature not in result.stderr
    secret = (tmp_path / ".rindle" / "objects" / ".rindle-secret").read_bytes()
    assert secret.hex() not in result.output


def test_memory_stays_flat_whatever_the_file_size(run: Run, tmp_path: Path) -> None:
    """A 48 MiB upload (client and receiver in this process) peaks far below its size."""
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:
        block = bytes(range(256)) * 4096  # 1 MiB
        for _ in range(48):
            fh.write(block)
    (tmp_path / "warm-up.txt").write_text("imports and caches are not the upload's memory\n")
    upload_json(run, "warm-up.txt")
    tracemalloc.start()
    try:
        data = upload_json(run, "big.bin")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data["asset"]["byte_size"] == 48 * 1024 * 1024
    assert data["asset"]["state"] == "available"
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"


def test_the_progress_bar_counts_every_byte(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal, a rich progress bar on stderr follows the bytes sent."""
    import io

    from rich.console import Console
    from rich.progress import Progress

    from rindle_core.cli import _upload

    terminal = io.StringIO()
    monkeypatch.setattr(
        _upload,
        "console",
        lambda stderr=False: (
            Console(file=terminal, force_terminal=True, width=100)
            if stderr
            else Console(file=io.StringIO())
        ),
    )
    totals: list[tuple[float, float | None]] = []
    original_stop = Progress.stop

    def stop(self: Progress) -> None:
        totals.extend((task.completed, task.total) for task in self.tasks)
        original_stop(self)

    monkeypatch.setattr(Progress, "stop", stop)
    sized = tmp_path / "three-mib.bin"
    sized.write_bytes(b"\x07" * (3 * 1024 * 1024))
    run("upload", "three-mib.bin")
    assert totals == [(3 * 1024 * 1024, 3 * 1024 * 1024)]
    assert "three-mib.bin" in terminal.getvalue()
    totals.clear()
    run("upload", "three-mib.bin", "--no-progress")
    assert totals == []
