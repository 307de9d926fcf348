"""``rindle serve``: the upload API, the local receiver and the demo page in one server.

The end-to-end test runs the console script as a real process on a free port
(``--port 0``) and drives it with httpx exactly as the page's Uppy does: the
single-file form POST and the multipart path, both to the receiver the
server mounts; then it reads the transitions from the event stream and stops
the server with SIGINT. The pieces (the demo's cookie, the transition log,
the WSGI bridge, the event stream) are also checked in process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

from rindle_core import Broker, StorageNotFound
from rindle_core.cli._serve import _base_url, _loopback
from rindle_core.local import LocalStorage
from rindle_core.models import Asset, UploadSession
from rindle_core.states import AssetState, SessionState
from rindle_core.web import Action, Denied, Headers, Request, UploadAPI
from rindle_core.web.demo import COOKIE, DemoAccess, TransitionLog, WSGIBridge
from rindle_core.web.demo import _app as demo_app
from rindle_core.web.demo._app import _stream

SCRIPT = Path(sys.executable).with_name("rindle")
MIB = 1024 * 1024
STARTUP = 20.0


# -----------------------------------------------------------------------------
# The server as a process
# -----------------------------------------------------------------------------


@attrs.define
class Served:
    """A running ``rindle serve``; its output is read as it comes (pipes never fill)."""

    proc: subprocess.Popen[str]
    url: str
    out: list[str]
    err: list[str]
    readers: list[threading.Thread]

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=15)
        for reader in self.readers:
            reader.join(timeout=5)
        return code

    @property
    def output(self) -> str:
        return "".join(self.out) + "".join(self.err)


def _pump(stream: Any, into: list[str], first: queue.Queue[str] | None) -> None:
    for line in stream:
        into.append(line)
        if first is not None:
            first.put(line)
            first = None


@contextlib.contextmanager
def serving(workdir: Path, *args: str) -> Iterator[Served]:
    """``rindle [args] serve --port 0`` in *workdir*, until the block ends."""
    if not SCRIPT.is_file():
        pytest.fail(f"the rindle console script is not installed at {SCRIPT}", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINDLE_")}
    env["HOME"] = str(workdir)
    proc = subprocess.Popen(
        [str(SCRIPT), *args, "serve", "--port", "0"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: list[str] = []
    err: list[str] = []
    first: queue.Queue[str] = queue.Queue()
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, out, first), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, err, None), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        try:
            line = first.get(timeout=STARTUP)
        except queue.Empty:
            pytest.fail(f"rindle serve did not start: {''.join(err)}")
        assert line.startswith("rindle serve: open http://127.0.0.1:"), (line, err)
        url = line.split()[3].rstrip("/")
        yield Served(proc, url, out, err, readers)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class EventStream:
    """The page's ``EventSource``: transitions read in a thread as they arrive."""

    def __init__(self, client: httpx.Client) -> None:
        self.events: list[dict[str, Any]] = []
        self.status: int | None = None
        self.error: httpx.HTTPError | None = None
        self._client = client
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with self._client.stream("GET", "/events", timeout=30) as response:
                self.status = response.status_code
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        self.events.append(json.loads(line[len("data: ") :]))
        except httpx.HTTPError as exc:  # the stream must end cleanly: checked by the test
            self.error = exc

    def wait_for(self, upload: str, machine: str, state: str) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any(
                e["upload"] == upload and e["machine"] == machine and e["to"] == state
                for e in self.events
            ):
                return
            time.sleep(0.05)
        raise AssertionError(f"no {machine} -> {state} for {upload}: {self.events}")

    def states(self, upload: str, machine: str) -> list[str]:
        return [e["to"] for e in self.events if e["upload"] == upload and e["machine"] == machine]

    def ended(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


def _origin(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


def _form_post(
    client: httpx.Client, name: str, data: bytes, *, storage: str = "local"
) -> tuple[str, str]:
    """Uppy's single-file path: params, the form POST, then the page's complete call."""
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("filename", name),
        ("type", "text/plain"),
        ("metadata[name]", name),
    ]
    signed = client.get("/api/s3/params", params=params)
    assert signed.status_code == 200, signed.text
    form = signed.json()
    assert form["url"].startswith(f"{_origin(client)}/storage/{storage}/o/")
    fields = form["fields"]
    sent = httpx.post(form["url"], data=fields, files={"file": (name, data, "text/plain")})
    assert sent.status_code == 204, sent.text
    done = client.post("/api/s3/complete", params={"key": fields["key"]})
    assert done.status_code == 200, done.text
    assert done.json()["key"] == fields["key"]
    session_id = done.json()["location"].rsplit("/", 1)[1]
    return session_id, fields["key"]


def _multipart(client: httpx.Client, name: str, data: bytes, part_size: int) -> str:
    """Uppy's multipart path: create, sign and PUT each part, list, complete."""
    meta = {"name": name, "type": "application/octet-stream"}
    created = client.post(
        "/api/s3/multipart",
        json={"filename": name, "type": "application/octet-stream", "metadata": meta},
    )
    assert created.status_code == 200, created.text
    upload_id, key = created.json()["uploadId"], created.json()["key"]
    parts = []
    for number, start in enumerate(range(0, len(data), part_size), start=1):
        signed = client.get(f"/api/s3/multipart/{upload_id}/{number}", params={"key": key})
        assert signed.status_code == 200, signed.text
        assert signed.json()["url"].startswith(f"{_origin(client)}/storage/local/o/")
        sent = httpx.put(signed.json()["url"], content=data[start : start + part_size])
        assert sent.status_code == 200, sent.text
        parts.append({"PartNumber": number, "ETag": sent.headers["etag"].strip('"')})
    listed = client.get(f"/api/s3/multipart/{upload_id}", params={"key": key})
    assert [p["PartNumber"] for p in listed.json()] == [p["PartNumber"] for p in parts]
    done = client.post(
        f"/api/s3/multipart/{upload_id}/complete", params={"key": key}, json={"parts": parts}
    )
    assert done.status_code == 200, done.text
    return str(upload_id)


def _stored(client: httpx.Client, session_id: str) -> tuple[dict[str, Any], bytes]:
    """The session's status and the asset's bytes, read back through its download URL."""
    status = client.get(f"/api/uploads/{session_id}").json()
    signed = client.get(f"/api/uploads/{session_id}/download")
    assert signed.status_code == 200, signed.text
    got = httpx.get(signed.json()["url"], headers=signed.json()["headers"])
    assert got.status_code == 200
    return status, got.content


def test_a_browser_upload_through_rindle_serve(tmp_path: Path) -> None:
    small = b"hello from the demo page\n" * 40
    large = bytes(range(256)) * (5 * MIB // 256) + b"tail" * 256
    started = time.monotonic()
    with serving(tmp_path) as served:
        browser = httpx.Client(base_url=served.url, timeout=15)
        page = browser.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        for path in ("/static/uppy/uppy.min.js", "/static/uppy/uppy.min.css"):
            assert f'"{path}"' in page.text  # the bundle the page loads
        assert '"/static/demo/demo.js"' in page.text
        cookie = page.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "script-src" not in page.headers["content-security-policy"]  # default 'self'
        script = browser.get("/static/demo/demo.js")
        assert script.status_code == 200 and "companionEndpoint: api" in script.text
        assert 'data-api="/api"' in page.text

        # Another browser, without the page's cookie, gets nothing.
        stranger = httpx.Client(base_url=served.url, timeout=15)
        refused = stranger.get("/api/s3/params", params={"filename": "x.txt"})
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert stranger.get("/events").status_code == 401
        cross = browser.get(
            "/api/s3/params", params={"filename": "x.txt"}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert cross.status_code == 403

        stream = EventStream(browser)
        single, _ = _form_post(browser, "hello.txt", small)
        multi = _multipart(browser, "clip.bin", large, 5 * MIB)

        for session_id, data in ((single, small), (multi, large)):
            status, stored = _stored(browser, session_id)
            assert status["session"]["state"] == "completed"
            assert status["asset"]["state"] == "available"  # promotion ran inline
            assert stored == data
            upload = status["session"]["asset_id"]
            stream.wait_for(upload, "asset", "available")
            assert stream.states(upload, "session")[0] == "initialized"
            assert stream.states(upload, "session")[-1] == "completed"
        assert stream.status == 200
        assert {e["strategy"] for e in stream.events if e["machine"] == "session"} == {
            "presigned_post",
            "multipart",
        }
        assert {e["name"] for e in stream.events} == {"hello.txt", "clip.bin"}

        assert served.stop() == 0  # Ctrl-C, with an event stream still open
        assert stream.ended(timeout=5)
        assert stream.error is None  # the stream was ended, not cut
    assert time.monotonic() - started < 20
    database = tmp_path / ".rindle" / "rindle.db"
    assert f"database: sqlite:///{database} (embedded default)\n" in served.err
    assert served.err[-1] == "stopped\n"
    assert "Traceback" not in served.output
    # The access log shows the receiver's requests without their signatures.
    assert "/storage/local/o/" in served.output and "?[REDACTED]" in served.output
    assert "sig=" not in served.output


def test_rindle_upload_through_rindle_serve(tmp_path: Path) -> None:
    """The command as the app's client (``--api``), in one process, the app in another:
    the single PUT and, interrupted by nothing, the multipart path, both available."""
    small = tmp_path / "small.txt"
    small.write_bytes(b"from the command line\n" * 100)
    large = tmp_path / "large.bin"
    large.write_bytes(bytes(range(256)) * (5 * MIB // 256) + b"tail")
    with serving(tmp_path) as served:
        cookie = httpx.get(served.url + "/").headers["set-cookie"].split(";", 1)[0]
        env = {k: v for k, v in os.environ.items() if not k.startswith("RINDLE_")}
        for path, strategy in ((small, "put"), (large, "multipart")):
            done = subprocess.run(
                [str(SCRIPT), "upload", path.name, "--api", f"{served.url}/api", "-p",
                 "default", "--header", f"Cookie: {cookie}", "--strategy", strategy,
                 "--json", "--no-progress"],
                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            status = json.loads(done.stdout)
            assert status["asset"]["state"] == "available"
            assert status["asset"]["byte_size"] == path.stat().st_size
            assert cookie.split("=", 1)[1] not in done.stderr
        assert served.stop() == 0
    assert "Traceback" not in served.output


def test_sigterm_stops_it_too(tmp_path: Path) -> None:
    with serving(tmp_path) as served:
        assert httpx.get(served.url + "/").status_code == 200
        assert served.stop(signal.SIGTERM) == 0
    assert served.err[-1] == "stopped\n"


def test_a_configured_local_storage_is_served_at_its_name(tmp_path: Path) -> None:
    (tmp_path / "rindle.toml").write_text(
        textwrap.dedent(
            """
            database_url = "sqlite:///app.db"
            job_mode = "worker"
            [storage.disk]
            type = "local"
            root = "./objects"
            [profiles.docs]
            storage = "disk"
            """
        )
    )
    upgraded = subprocess.run(
        [str(SCRIPT), "-c", "rindle.toml", "db", "upgrade"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    with serving(tmp_path, "--config", "rindle.toml") as served:
        browser = httpx.Client(base_url=served.url, timeout=15)
        assert browser.get("/").status_code == 200
        session_id, key = _form_post(browser, "a.txt", b"configured\n", storage="disk")
        status = browser.get(f"/api/uploads/{session_id}").json()
        assert status["session"]["profile"] == "docs"
        assert status["asset"]["state"] == "available"  # inline, whatever the file says
        assert served.stop() == 0
    assert (tmp_path / "objects" / key).is_file()
    assert f"database: sqlite:///{tmp_path / 'app.db'} (from {tmp_path / 'rindle.toml'})\n" in (
        served.err
    )
    assert "jobs: promotion runs inline in this server (the configuration says 'worker')\n" in (
        served.err
    )


# -----------------------------------------------------------------------------
# What is refused before anything is served
# -----------------------------------------------------------------------------


def test_two_profiles_need_a_choice(run: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "rindle.toml").write_text(
        textwrap.dedent(
            """
            database_url = "sqlite:///app.db"
            [storage.disk]
            type = "local"
            root = "./objects"
            [profiles.docs]
            storage = "disk"
            [profiles.other]
            storage = "disk"
            """
        )
    )
    result = run("serve", code=2)
    assert "--profile is required (configured profiles: docs, other)" in result.stderr
    result = run("serve", "--profile", "nope", code=2)
    assert "no profile 'nope'" in result.stderr
    assert not (tmp_path / "app.db").exists()


def test_a_busy_port_is_one_line(run: Callable[..., Any], tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = run("serve", "--port", str(port), code=1)
    assert result.stderr == (
        f"error: OSError: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )
    assert list(tmp_path.iterdir()) == []  # nothing built


_BLOCKER = """
import sys

class _Missing:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == {missing!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _Missing())
sys.argv = ["rindle", "serve"]
from rindle_core.cli import main
main()
"""


@pytest.mark.parametrize("missing", ["uvicorn", "starlette"])
def test_the_web_extra_is_named_when_missing(tmp_path: Path, missing: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _BLOCKER.format(missing=missing)],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("RINDLE_")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr == (
        f"error: rindle serve needs the 'web' extra ({missing} is not installed): "
        'pip install "rindle-core[web]"\n'
    )
    assert list(tmp_path.iterdir()) == []  # no database, no storage root


def test_the_command_line_imports_no_web_server() -> None:
    code = (
        "import sys, rindle_core.cli\n"
        "rindle_core.cli.cli\n"
        "print(sorted(m for m in ('starlette', 'uvicorn') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
    ],
)
def test_only_loopback_is_quiet(host: str, loopback: bool) -> None:
    assert _loopback(host) is loopback


def test_the_base_url_browsers_reach() -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
        assert _base_url("127.0.0.1", sock) == f"http://127.0.0.1:{port}"
        assert _base_url("::1", sock) == f"http://[::1]:{port}"
        assert _base_url("0.0.0.0", sock) == f"http://{socket.gethostname()}:{port}"


# -----------------------------------------------------------------------------
# The demo's pieces, in process
# -----------------------------------------------------------------------------


def _request(**headers: str) -> Request:
    return Request("GET", "/s3/params", headers=Headers(headers))


def test_the_demo_owner_needs_the_cookie_and_a_same_site_request() -> None:
    access = DemoAccess()
    cookie = access.set_cookie().split(";", 1)[0]
    assert access.owner.startswith("demo-") and access.owner not in cookie
    assert access.authorize(_request(cookie=cookie), Action.INITIATE, "p", None) == access.owner
    assert (
        access.authorize(
            _request(cookie=f"theme=dark; {cookie}", **{"sec-fetch-site": "same-origin"}),
            Action.STATUS,
            "p",
            None,
        )
        == access.owner
    )
    for refused in (
        _request(),
        _request(cookie=f"{COOKIE}=guess"),
        _request(cookie=DemoAccess().set_cookie().split(";", 1)[0]),  # another process's
        _request(cookie='rindle_demo="unterminated'),
    ):
        with pytest.raises(Denied) as denied:
            access.authorize(refused, Action.INITIATE, "p", None)
        assert denied.value.status == 401
    with pytest.raises(Denied) as denied:
        access.authorize(
            _request(cookie=cookie, **{"sec-fetch-site": "cross-site"}), Action.INITIATE, "p", None
        )
    assert denied.value.status == 403
    assert access.owner in repr(access) and cookie.split("=")[1] not in repr(access)


NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _session(owner: str | None, asset_id: str = "a1") -> UploadSession:
    return UploadSession(
        id="s" + asset_id,
        asset_id=asset_id,
        profile="p",
        storage="disk",
        state=SessionState.INITIALIZED,
        storage_key=f"p/{asset_id}/k.txt",
        upload_strategy="presigned_post",
        content_type="text/plain",
        declared_size=None,
        expires_at=NOW,
        created_at=NOW,
        updated_at=NOW,
        owner=owner,
        metadata={"name": "notes.txt"},
    )


def _asset(owner: str | None, asset_id: str = "a1") -> Asset:
    return Asset(
        id=asset_id,
        profile="p",
        state=AssetState.QUARANTINED,
        storage_key=f"p/{asset_id}/k.txt",
        filename="notes.txt",
        declared_content_type="text/plain",
        content_type="text/plain",
        byte_size=3,
        quarantine_reason="type_mismatch",
        created_at=NOW,
        updated_at=NOW,
        owner=owner,
    )


def test_the_log_keeps_each_owners_transitions_apart() -> None:
    log = TransitionLog()
    log.rindle_upload_started(_session("alice"))
    log.rindle_session_transitioned(_session("alice"), "initialized", "signed")
    log.rindle_session_transitioned(_session(None), "initialized", "signed")  # no owner
    log.rindle_session_transitioned(_session("bob", "b1"), "initialized", "signed")
    log.rindle_asset_transitioned(_asset("alice"), "analyzing", "quarantined")
    alice = log.since("alice")
    assert [(t.machine, t.from_state, t.to_state) for t in alice] == [
        ("session", "", "initialized"),
        ("session", "initialized", "signed"),
        ("asset", "analyzing", "quarantined"),
    ]
    assert [t.seq for t in alice] == [1, 2, 4]
    assert {t.upload for t in alice} == {"a1"}
    assert alice[0].to_json()["name"] == "notes.txt"
    assert alice[0].to_json()["strategy"] == "presigned_post"
    assert alice[2].to_json()["reason"] == "type_mismatch"
    assert log.since("alice", 2) == alice[2:]
    assert [t.upload for t in log.since("bob")] == ["b1"]
    assert log.since("carol") == []


def test_the_log_is_bounded() -> None:
    log = TransitionLog(per_owner=3, owners=2)
    for n in range(5):
        log.rindle_session_transitioned(_session("alice"), "signed", f"s{n}")
    assert [t.to_state for t in log.since("alice")] == ["s2", "s3", "s4"]
    log.rindle_upload_started(_session("bob"))
    log.rindle_session_transitioned(_session("alice"), "signed", "s5")  # alice is recent again
    log.rindle_upload_started(_session("carol"))  # a third owner: bob, the oldest, goes
    assert log.since("bob") == []
    assert log.since("alice") and log.since("carol")
    with pytest.raises(ValueError):
        TransitionLog(per_owner=0)


def test_the_event_stream_sends_new_transitions_and_ends_when_stopping() -> None:
    log = TransitionLog()
    log.rindle_upload_started(_session("alice"))
    log.rindle_session_transitioned(_session("alice"), "initialized", "signed")
    stop = threading.Event()

    async def read() -> list[str]:
        chunks: list[str] = []
        with anyio.fail_after(5):
            async for chunk in _stream(log, "alice", 1, stop.is_set, 0.01, 0.05):
                chunks.append(chunk)
                if len(chunks) == 2:
                    log.rindle_session_transitioned(_session("alice"), "signed", "uploaded")
                if chunk.startswith(":"):
                    stop.set()  # the stream ends at its next poll
        return chunks

    chunks = anyio.run(read)
    assert chunks[0] == "retry: 1000\n\n"
    events = [c for c in chunks if c.startswith("id: ")]
    assert [e.split("\n")[0] for e in events] == ["id: 2", "id: 3"]  # after seq 1 only
    assert events[0].split("\n")[1] == "event: transition"
    assert json.loads(events[1].split("\n")[2][len("data: ") :])["to"] == "uploaded"
    assert chunks[-1] == ": keep-alive\n\n"  # nothing else came after the stop


class _ChunkedClient:
    """ASGI ``receive``/``send`` for one request whose body comes in *chunks*."""

    def __init__(self, chunks: list[bytes], *, stall: bool = False) -> None:
        self.chunks = chunks
        self.delivered = 0
        self.stall = stall
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.stall and self.delivered == 1:
            await anyio.sleep(60)
        self.delivered += 1
        more = self.delivered < len(self.chunks)
        return {"type": "http.request", "body": self.chunks[self.delivered - 1], "more_body": more}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(dict(message))

    def serve(self, bridge: WSGIBridge, scope: dict[str, Any]) -> None:
        async def request() -> None:
            await bridge(scope, self.receive, self.send)

        anyio.run(request)


def _scope(path: str, length: int) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "PUT",
        "path": "/storage/disk" + path,
        "root_path": "/storage/disk",
        "query_string": b"a=1",
        "headers": [(b"content-length", str(length).encode()), (b"x-thing", b"v")],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
        "http_version": "1.1",
        "scheme": "http",
    }


def test_the_bridge_streams_the_body_to_the_wsgi_app() -> None:
    chunks = [b"a" * 1000, b"b" * 1000, b"c" * 1000]
    client = _ChunkedClient(chunks)
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen["environ"] = environ
        first = environ["wsgi.input"].read(10_000)
        seen["delivered_at_first_read"] = client.delivered
        rest = environ["wsgi.input"].read()
        start_response("201 Created", [("ETag", '"x"')])
        return [str(len(first + rest)).encode(), b" bytes"]

    client.serve(WSGIBridge(app), _scope("/o/key", 3000))
    assert seen["delivered_at_first_read"] == 1  # not the whole body first
    environ = seen["environ"]
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/storage/disk", "/o/key")
    assert environ["QUERY_STRING"] == "a=1"
    assert environ["CONTENT_LENGTH"] == "3000" and environ["HTTP_X_THING"] == "v"
    start, *body = client.sent
    assert start == {"type": "http.response.start", "status": 201, "headers": [(b"etag", b'"x"')]}
    assert b"".join(m["body"] for m in body) == b"3000 bytes"
    assert body[-1]["more_body"] is False


def test_a_stalled_upload_is_answered_by_the_receiver(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, base_url="http://127.0.0.1:8000/storage/disk", fsync=False)
    signed = storage.presign_put(
        "k.bin", content_type="application/octet-stream", content_length=2000, expires_in=60
    )
    path, _, query = signed.url.partition("/storage/disk")[2].partition("?")
    scope = {**_scope(path, 2000), "query_string": query.encode()}
    scope["headers"] = [
        (b"content-length", b"2000"),
        (b"content-type", b"application/octet-stream"),
    ]
    client = _ChunkedClient([b"x" * 1000, b"y" * 1000], stall=True)
    bridge = WSGIBridge(storage.receiver(), body_timeout=0.2)
    client.serve(bridge, scope)
    assert client.sent[0]["status"] == 400
    assert b"RequestTimeout" in b"".join(m.get("body", b"") for m in client.sent[1:])
    with pytest.raises(StorageNotFound):
        storage.head("k.bin")


def test_without_the_bundle_the_page_still_loads_and_says_why(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo_app, "UPPY_DIR", tmp_path / "missing")
    access = DemoAccess()
    api = UploadAPI(broker, authorize=access.authorize)
    app = demo_app.create_app(
        api, access=access, log=TransitionLog(), receivers={}, stopping=lambda: True, profile="p"
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient

        with TestClient(app) as client:
            page = client.get("/")
            assert page.status_code == 200 and access.owner in page.text
            missing = client.get("/static/uppy/uppy.min.js")
            assert missing.status_code == 404
            assert "the Uppy bundle is not installed" in missing.text
            # The event stream of a stopping server ends at once (after its retry hint).
            assert client.get("/events").text == "retry: 1000\n\n"
