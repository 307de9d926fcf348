"""The example apps in ``examples/`` run: each serves its page and takes an upload end to
end through its framework's test client, on its own ``rindle.toml`` (the bytes over
HTTP to the local backend's receiver), as Uppy sends them and through rindle's routes.

The guides (``docs/guides/``) include these files; ``tests/test_guides.py`` checks
the inclusions.
"""

from __future__ import annotations

import importlib.util
import io
import re
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from rindle_core.config import load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BUNDLE = Path(__file__).resolve().parents[2] / "rindle_core/src/rindle_core/web/static/uppy"
DATA = b"hello\n"
UPPY_FILE = {"filename": "notes.txt", "type": "text/plain", "metadata[name]": "notes.txt"}
UPLOAD = {"profile": "uploads", "filename": "notes.txt", "content_type": "text/plain", "size": 6}


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"rindle_example_{name}", EXAMPLES / name / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import does: Flask finds its files from it
    spec.loader.exec_module(module)
    return module


def _configure(tmp_path: Path, name: str, base_url: str) -> Path:
    """The example's rindle.toml in *tmp_path* (its paths start there), with the
    local storage's *base_url*, and its database migrated (``rindle db upgrade``)."""
    text = (EXAMPLES / name / "rindle.toml").read_text(encoding="utf-8")
    text, replaced = re.subn(r'(?m)^base_url = ".*"$', f'base_url = "{base_url}"', text)
    assert replaced == 1
    config = tmp_path / "rindle.toml"
    config.write_text(text, encoding="utf-8")
    database = load_config(config, environ={}).database()
    database.upgrade()
    database.dispose()
    return config


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_fastapi_example(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    config = _configure(tmp_path, "fastapi_app", f"http://127.0.0.1:{_free_port()}")
    app = _load("fastapi_app").create_app(config)
    with TestClient(app) as client:
        assert client.get("/api/uploads/s3/params", params=UPPY_FILE).status_code == 401
        page = client.get("/")  # signs the demo visitor in (a session cookie)
        assert page.status_code == 200
        assert '<script src="/uppy/uppy.min.js"' in page.text
        assert client.get("/uppy/uppy.min.js").status_code == 200
        assert "companionEndpoint" in client.get("/static/uploads.js").text
        cross_site = {"Sec-Fetch-Site": "cross-site"}
        refused = client.get("/api/uploads/s3/params", params=UPPY_FILE, headers=cross_site)
        assert refused.status_code == 403

        # Uppy's single-file path: the form, the POST to storage, the page's complete.
        form = client.get("/api/uploads/s3/params", params=UPPY_FILE).json()
        sent = httpx.post(
            form["url"], data=form["fields"], files={"file": ("notes.txt", DATA, "text/plain")}
        )
        assert sent.status_code == 204, sent.text
        key = form["fields"]["key"]
        done = client.post("/api/uploads/s3/complete", params={"key": key})
        assert done.status_code == 200, done.text
        status = client.get(done.json()["location"]).json()
        assert (status["session"]["state"], status["asset"]["state"]) == ("completed", "available")
    assert (tmp_path / "uploads" / key).read_bytes() == DATA


def test_the_flask_example(tmp_path: Path) -> None:
    config = _configure(tmp_path, "flask_app", "http://localhost/files")
    app = _load("flask_app").create_app(config)
    client = app.test_client()
    assert client.post("/api/uploads/uploads", json=UPLOAD).status_code == 401
    page = client.get("/")  # signs the demo visitor in (Flask's session cookie)
    assert page.status_code == 200
    assert '<script src="/uppy/uppy.min.js"' in page.get_data(as_text=True)
    assert client.get("/uppy/uppy.min.js").status_code == 200
    assert "companionEndpoint" in client.get("/static/uploads.js").get_data(as_text=True)

    # rindle's own routes: initiate, PUT to the receiver mounted at /files, complete.
    opened = client.post("/api/uploads/uploads", json=UPLOAD)
    assert opened.status_code == 201, opened.text
    upload = opened.get_json()["upload"]
    target = urlsplit(upload["url"])
    assert target.path.startswith("/files/")
    sent = client.put(target.path, query_string=target.query, headers=upload["headers"], data=DATA)
    assert sent.status_code == 200, sent.get_data(as_text=True)
    session_id = opened.get_json()["session"]["id"]
    done = client.post(f"/api/uploads/uploads/{session_id}/complete")
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json()["asset"]["state"] == "available"

    # Uppy's single-file path: the form POSTed to the receiver, then the page's complete.
    form: dict[str, Any] = client.get("/api/uploads/s3/params", query_string=UPPY_FILE).get_json()
    fields = {**form["fields"], "file": (io.BytesIO(DATA), "notes.txt", "text/plain")}
    posted = client.post(urlsplit(form["url"]).path, data=fields)
    assert posted.status_code == 204, posted.get_data(as_text=True)
    completed = client.post("/api/uploads/s3/complete", query_string={"key": form["fields"]["key"]})
    assert completed.status_code == 200, completed.get_data(as_text=True)
    status = client.get(completed.get_json()["location"]).get_json()
    assert status["asset"]["state"] == "available"


def test_the_examples_serve_the_same_page() -> None:
    for name in ("index.html", "uploads.js"):
        fastapi_page = (EXAMPLES / "fastapi_app" / "static" / name).read_bytes()
        assert fastapi_page == (EXAMPLES / "flask_app" / "static" / name).read_bytes(), name


def test_the_page_uses_only_what_the_bundle_exports() -> None:
    script = (EXAMPLES / "fastapi_app" / "static" / "uploads.js").read_text(encoding="utf-8")
    used = set(re.findall(r"\bUppy\.(\w+)", script))
    assert used == {"Uppy", "Dashboard", "AwsS3"}
    entry = (BUNDLE / "entry.js").read_text(encoding="utf-8")
    exported = re.search(r"export \{([^}]*)\}", entry)
    assert exported is not None
    assert used <= {name.strip() for name in exported.group(1).split(",")}
    assert (BUNDLE / "uppy.min.js").is_file()
    assert (BUNDLE / "uppy.min.css").is_file()


@pytest.mark.parametrize("name", ["fastapi_app", "flask_app"])
def test_the_s3_configuration_is_valid(name: str) -> None:
    pytest.importorskip("rindle_s3")
    config = load_config(EXAMPLES / name / "rindle.s3.toml", environ={})
    config.check_storage_types()
    assert [p.name for p in config.profiles] == ["uploads"]
    assert config.job_mode == "worker"
    assert config.profile("uploads").url_ttl <= 15 * 60
