"""The example apps in ``examples/`` run: each takes an upload end to end through its
framework's test client (the bytes over HTTP to the local backend's receiver)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import httpx

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DATA = b"hello\n"
UPLOAD = {"profile": "uploads", "filename": "notes.txt", "content_type": "text/plain", "size": 6}


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"rindle_example_{name}", EXAMPLES / name / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fastapi_example(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    app = _load("fastapi_app").create_app(tmp_path, receiver_port=0)
    with TestClient(app) as client:
        refused = client.post("/api/uploads/uploads", json=UPLOAD)
        assert refused.status_code == 403
        opened = client.post("/api/uploads/uploads", json=UPLOAD, headers={"X-User": "alice"})
        assert opened.status_code == 201, opened.text
        upload = opened.json()["upload"]
        assert httpx.put(upload["url"], headers=upload["headers"], content=DATA).status_code == 200
        session_id = opened.json()["session"]["id"]
        done = client.post(
            f"/api/uploads/uploads/{session_id}/complete", headers={"X-User": "alice"}
        )
        assert done.status_code == 200, done.text
        assert done.json()["asset"]["state"] == "available"
    assert (tmp_path / "rindle.db").exists()


def test_the_flask_example(tmp_path: Path) -> None:
    app = _load("flask_app").create_app(tmp_path, public_url="http://localhost")
    client = app.test_client()
    assert client.post("/api/uploads/uploads", json=UPLOAD).status_code == 403
    assert client.post("/login/alice").status_code == 200
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
