"""``rindle upload --api URL``: the command as a client of a running app's upload API.

The app (``api_server``) serves the API over real HTTP with a bearer-token
hook; its local backend's receiver stores the bytes. The command needs no
configuration, database or cloud SDK of its own: a subprocess run checks
that it imports none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
from api_server import TOKEN, ServedAPI, local_broker, serve_api
from interrupts import interrupt_after

from rindle_core import Database
from rindle_core.client import UploadClient
from rindle_core.local import serve_receiver

Run = Callable[..., Any]
MIB = 1024 * 1024
PART = 5 * MIB


@pytest.fixture
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("app")


@pytest.fixture
def served(app_dir: Path, pm: pluggy.PluginManager) -> Iterator[ServedAPI]:
    """The app, its database and objects in their own directory (not the command's)."""
    db = Database(f"sqlite:///{app_dir / 'app.db'}")
    db.create_all()
    with (
        serve_receiver(app_dir / "objects") as receiver,
        serve_api(local_broker(db, app_dir / "objects", receiver.url, pm)) as app,
    ):
        yield app
    db.dispose()


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RINDLE_API_TOKEN", TOKEN)
    return TOKEN


def _file(directory: Path, size: int, name: str = "data.bin") -> Path:
    path = directory / name
    path.write_bytes(bytes(range(256)) * (size // 256) + b"e" * (size % 256))
    return path


def test_a_put_through_the_api_touches_no_local_state(
    run: Run, served: ServedAPI, token: str, tmp_path: Path, app_dir: Path
) -> None:
    path = _file(tmp_path, 3000, "notes.txt")
    result = run("upload", "notes.txt", "--api", served.url, "-p", "files", "--json")
    data = json.loads(result.stdout)
    assert (
        data["session"]["state"] == "completed" and data["session"]["strategy"] == "presigned_put"
    )
    assert data["asset"]["state"] == "available" and data["asset"]["byte_size"] == 3000
    assert data["asset"]["filename"] == "notes.txt"
    stored = app_dir / "objects" / data["session"]["storage_key"]
    assert stored.read_bytes() == path.read_bytes()
    assert result.stderr.splitlines()[0] == f"api: {served.url}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # no .rindle, no database
    assert [m for m, _ in served.requests if m != "PUT"] == ["POST", "POST"]  # initiate, complete


def test_human_output_through_the_api(
    run: Run, served: ServedAPI, token: str, tmp_path: Path
) -> None:
    _file(tmp_path, 100, "notes.txt")
    result = run("upload", "notes.txt", "--api", served.url, "-p", "files")
    assert "completed" in result.stdout and "available" in result.stdout


def test_the_url_may_come_from_the_environment(
    run: Run, served: ServedAPI, token: str, tmp_path: Path
) -> None:
    _file(tmp_path, 100)
    result = run("upload", "data.bin", "-p", "files", "--json", env={"RINDLE_API_URL": served.url})
    assert json.loads(result.stdout)["asset"]["state"] == "available"


def test_a_form_post_through_the_api(
    run: Run, served: ServedAPI, token: str, tmp_path: Path
) -> None:
    _file(tmp_path, 5000)
    result = run(
        "upload", "data.bin", "--api", served.url, "-p", "files", "--strategy", "post", "--json"
    )
    assert json.loads(result.stdout)["session"]["strategy"] == "presigned_post"


def test_an_interrupted_multipart_upload_resumes_through_the_api(
    run: Run, served: ServedAPI, token: str, tmp_path: Path, app_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    path = _file(tmp_path, 3 * PART + 17)
    args = ("--api", served.url, "-p", "files")
    first: list[int] = []
    interrupt_after(monkeypatch, 2, first)
    stopped = run("upload", path.name, *args, "--strategy", "multipart", "--part-size", "5MiB",
                  code=1)  # fmt: skip
    assert first == [1, 2]
    session_id = stopped.stderr.split("rindle upload --resume ", 1)[1].split()[0]
    second: list[int] = []
    interrupt_after(monkeypatch, 99, second)
    resumed = run("upload", path.name, *args, "--resume", session_id, "--json")
    # Only what storage lacks; part 2 may have been stopped in flight (the client
    # signs the next checksummed batch while a part is sent; see the direct test).
    assert second in ([2, 3, 4], [3, 4])
    data = json.loads(resumed.stdout)
    assert data["session"]["id"] == session_id and data["asset"]["state"] == "available"
    assert data["session"]["checksum_algorithm"] == "crc32"  # the app's storage binds CRC32
    assert (app_dir / "objects" / data["session"]["storage_key"]).read_bytes() == path.read_bytes()


def test_a_failed_put_aborts_its_session_through_the_api(
    run: Run, served: ServedAPI, token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rindle_core import TransferFailed

    _file(tmp_path, 100)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise TransferFailed("refused by storage", status=400)

    monkeypatch.setattr(UploadClient, "put", refuse)
    result = run("upload", "data.bin", "--api", served.url, "-p", "files", code=1)
    assert "refused by storage" in result.stderr
    assert ("DELETE", served.requests[-1][1]) == served.requests[-1]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--api", "URL"), 2, "--profile is required with --api"),
        (("-p", "files", "--header", "X-Key: 1"), 2, "--header applies to --api"),
        (("--api", "URL", "-p", "files", "--header", "no colon"), 2, "NAME: VALUE"),
        (("--api", "ftp://x/api", "-p", "files"), 2, "http:// or https://"),
        (("--api", "URL", "-p", "files", "--header", "X-Key: a\x01b"), 2, "control character"),
        (("--api", "https://u:p@x/api", "-p", "files"), 2, "not in the API's URL"),
        (("--api", "URL", "-p", "nope"), 1, "Unknown profile"),
    ],
)
def test_usage_mistakes_are_one_line(
    run: Run, served: ServedAPI, token: str, tmp_path: Path, args: tuple[str, ...], code: int,
    message: str,
) -> None:  # fmt: skip
    _file(tmp_path, 10)
    result = run("upload", "data.bin", *(served.url if a == "URL" else a for a in args), code=code)
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_without_a_token_the_app_refuses_in_one_line(
    run: Run, served: ServedAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RINDLE_API_TOKEN", raising=False)
    _file(tmp_path, 10)
    result = run("upload", "data.bin", "--api", served.url, "-p", "files", code=1)
    assert (
        result.stderr.splitlines()[-1] == "error: APIError: Not authenticated: send your API token"
    )


def test_the_token_never_shows(
    run: Run, served: ServedAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RINDLE_API_TOKEN", "wrong-secret-token")
    _file(tmp_path, 10)
    result = run("-vv", "upload", "data.bin", "--api", served.url, "-p", "files", code=1)
    assert "wrong-secret-token" not in result.stdout + result.stderr


#: Run ``rindle ARGS`` as its console script does, then list on stderr the heavy
#: packages the process imported.
_WATCHED = """
import atexit, sys
HEAVY = ("sqlalchemy", "alembic", "boto3", "botocore", "google", "azure", "rich", "httpx")
atexit.register(lambda: sys.stderr.write(
    "\\nIMPORTED=" + ",".join(sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))) + "\\n"))
sys.argv = ["rindle", *sys.argv[1:]]
from rindle_core.cli import main
main()
"""


@pytest.mark.parametrize(("output", "allowed"), [("--json", ""), ("--no-progress", "rich")])
def test_the_command_imports_no_database_layer_nor_cloud_sdk(
    served: ServedAPI, tmp_path: Path, output: str, allowed: str
) -> None:
    """Only rich, to print the table of the human output."""
    _file(tmp_path, 1024)
    env = {**os.environ, "RINDLE_API_TOKEN": TOKEN}
    done = subprocess.run(
        [sys.executable, "-c", _WATCHED, "upload", "data.bin", "--api", served.url, "-p",
         "files", output, "--no-progress"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "available" in done.stdout
    assert done.stderr.rsplit("IMPORTED=", 1)[1].strip() == allowed
