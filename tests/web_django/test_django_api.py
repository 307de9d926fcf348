"""The upload API through Django's test client, on SQLite and PostgreSQL.

The bytes go over real HTTP to the local storage's receiver (one test
sends them through the receiver's Django view instead); everything else
goes through ``django.test.Client`` and the project's middleware (sessions,
CSRF, authentication), with a Django user as the owner.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.db import connections
from django.test import AsyncClient, Client, override_settings
from web_django_support import IN_TRANSACTION, make_user, rindle_settings

from rindle_core.web.django import get_broker

PREFIX = "/api/uploads"
PROBLEM = "application/problem+json"
DATA = b"hello, django\n"
UPLOAD = {"profile": "uploads", "filename": "notes.txt", "content_type": "text/plain", "size": 14}


def client_for(name: str | None) -> Client:
    """A test client signed in as a new user called *name* (None: anonymous)."""
    client = Client()
    if name is not None:
        client.force_login(make_user(f"{name}-{id(client)}"))
    return client


def post(client: Client, path: str, body: object = None, **kw: Any) -> Any:
    if body is None:  # no body at all (Client.post would send an empty multipart form)
        return client.generic("POST", PREFIX + path, **kw)
    return client.post(PREFIX + path, json.dumps(body), content_type="application/json", **kw)


def problem(answer: Any, status: int, slug: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.content
    assert answer["Content-Type"] == PROBLEM
    body: dict[str, Any] = answer.json()
    assert body["type"].endswith("#" + slug), body
    return body


@pytest.mark.usefixtures("rindle")
def test_an_upload_from_initiate_to_available() -> None:
    alice = client_for("alice")
    opened = post(alice, "/uploads", UPLOAD)
    assert opened.status_code == 201, opened.content
    session_id = opened.json()["session"]["id"]
    assert opened["Location"] == f"{PREFIX}/uploads/{session_id}"

    again = post(alice, f"/uploads/{session_id}/sign")
    assert again.status_code == 200, again.content
    upload = again.json()["upload"]
    sent = httpx.put(upload["url"], headers=upload["headers"], content=DATA)
    assert sent.status_code == 200, sent.text

    done = post(alice, f"/uploads/{session_id}/complete")
    assert done.status_code == 200, done.content
    assert done.json()["session"]["state"] == "completed"
    assert done.json()["asset"]["state"] == "available"

    status = alice.get(f"{PREFIX}/uploads/{session_id}")
    assert status.status_code == 200
    assert status.json()["asset"]["byte_size"] == len(DATA)
    download = alice.get(f"{PREFIX}/uploads/{session_id}/download")
    assert httpx.get(download.json()["url"]).content == DATA


@pytest.mark.usefixtures("rindle")
def test_an_aborted_upload() -> None:
    alice = client_for("alice")
    session_id = post(alice, "/uploads", UPLOAD).json()["session"]["id"]
    aborted = alice.delete(f"{PREFIX}/uploads/{session_id}")
    assert aborted.status_code == 200, aborted.content
    assert aborted.json()["session"]["state"] == "aborted"
    assert alice.get(f"{PREFIX}/uploads/{session_id}").json()["session"]["state"] == "aborted"


@pytest.mark.usefixtures("rindle")
def test_another_owners_session_is_answered_as_one_that_does_not_exist() -> None:
    alice, bob = client_for("alice"), client_for("bob")
    session_id = post(alice, "/uploads", UPLOAD).json()["session"]["id"]
    missing = "0" * 32
    for method, path in [
        ("GET", "/uploads/{}"),
        ("POST", "/uploads/{}/sign"),
        ("POST", "/uploads/{}/complete"),
        ("DELETE", "/uploads/{}"),
    ]:
        theirs = bob.generic(method, PREFIX + path.format(session_id))
        none = bob.generic(method, PREFIX + path.format(missing))
        problem(theirs, 404, "session-not-found")
        assert theirs.json()["detail"].replace(session_id, missing) == none.json()["detail"]
    assert alice.get(f"{PREFIX}/uploads/{session_id}").json()["session"]["state"] == "signed"


@pytest.mark.usefixtures("rindle")
def test_bad_json_is_a_400_problem_and_writes_nothing() -> None:
    alice = client_for("alice")
    before = len(get_broker().list_sessions(limit=1000))
    answer = alice.post(f"{PREFIX}/uploads", b"{not json", content_type="application/json")
    problem(answer, 400, "malformed-request")
    problem(post(alice, "/uploads", ["a", "list"]), 400, "malformed-request")
    problem(post(alice, "/uploads", {**UPLOAD, "colour": "red"}), 400, "invalid-argument")
    assert len(get_broker().list_sessions(limit=1000)) == before


@pytest.mark.usefixtures("rindle")
def test_an_anonymous_caller_is_told_to_sign_in() -> None:
    body = problem(post(client_for(None), "/uploads", UPLOAD), 401, "unauthorized")
    assert body["detail"] == "sign in first"


@pytest.mark.usefixtures("rindle")
def test_uppys_routes_live_under_the_same_prefix() -> None:
    alice = client_for("alice")
    # The single-file path: a form POST to storage, then rindle is told.
    params = alice.get(
        f"{PREFIX}/s3/params",
        {"filename": "a.txt", "type": "text/plain", "metadata[album]": "cats"},
    )
    assert params.status_code == 200, params.content
    form = params.json()
    sent = httpx.post(form["url"], data=form["fields"], files={"file": ("a.txt", DATA)})
    assert sent.status_code in (200, 201, 204), sent.text
    done = alice.generic("POST", f"{PREFIX}/s3/complete?key={form['fields']['key']}")
    assert done.status_code == 200, done.content
    assert done.json()["key"] == form["fields"]["key"]

    # The multipart path: one part (the last part may be small).
    created = post(alice, "/s3/multipart", {"filename": "b.txt", "type": "text/plain"})
    assert created.status_code == 200, created.content
    upload_id, key = created.json()["uploadId"], created.json()["key"]
    signed = alice.get(f"{PREFIX}/s3/multipart/{upload_id}/1", {"key": key})
    assert signed.status_code == 200, signed.content
    part = httpx.put(signed.json()["url"], headers=signed.json().get("headers"), content=DATA)
    assert part.status_code == 200, part.text
    listed = alice.get(f"{PREFIX}/s3/multipart/{upload_id}", {"key": key})
    assert [p["PartNumber"] for p in listed.json()] == [1]
    completed = post(
        alice,
        f"/s3/multipart/{upload_id}/complete?key={key}",
        {"parts": [{"PartNumber": 1, "ETag": part.headers["ETag"]}]},
    )
    assert completed.status_code == 200, completed.content
    assert completed.json()["location"] == f"{PREFIX}/uploads/{upload_id}"
    assert get_broker().get_session(upload_id).state == "completed"


@pytest.mark.usefixtures("rindle")
def test_the_openapi_document_names_the_mount_point() -> None:
    answer = Client().get(f"{PREFIX}/openapi.json")
    assert answer.status_code == 200
    assert answer.json()["servers"] == [{"url": PREFIX}]


@pytest.mark.usefixtures("rindle")
def test_unknown_routes_and_methods_are_the_apis_problems() -> None:
    alice = client_for("alice")
    problem(alice.get(f"{PREFIX}/nothing/here"), 404, "not-found")
    wrong = alice.generic("PUT", f"{PREFIX}/uploads")
    problem(wrong, 405, "method-not-allowed")
    assert "POST" in wrong["Allow"]


@pytest.mark.usefixtures("rindle")
def test_a_body_over_max_body_is_refused_before_it_is_read() -> None:
    alice = client_for("alice")
    big = json.dumps({**UPLOAD, "metadata": {"x": "y" * 2_000_000}})
    problem(post(alice, "/uploads", json.loads(big)), 413, "payload-too-large")


# -- cross-site requests and Django's CSRF --------------------------------------------------


@pytest.mark.usefixtures("rindle")
def test_a_cross_site_request_is_refused_and_changes_nothing() -> None:
    alice = client_for("alice")
    owner = str(alice.session["_auth_user_id"])
    query = {"filename": "a.txt", "type": "text/plain"}
    refused = alice.get(f"{PREFIX}/s3/params", query, headers={"Sec-Fetch-Site": "cross-site"})
    body = problem(refused, 403, "forbidden")
    assert "CSRF_TRUSTED_ORIGINS" in body["detail"]
    evil = {"Origin": "https://evil.example"}
    problem(alice.get(f"{PREFIX}/s3/params", query, headers=evil), 403, "forbidden")
    problem(post(alice, "/uploads", UPLOAD, headers=evil), 403, "forbidden")
    assert get_broker().list_sessions(owner=owner) == []

    own = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}
    assert alice.get(f"{PREFIX}/s3/params", query, headers=own).status_code == 200
    same = {"Origin": "http://testserver"}
    assert post(alice, "/uploads", UPLOAD, headers=same).status_code == 201


@pytest.mark.usefixtures("rindle")
def test_an_origin_in_csrf_trusted_origins_may_call_across_sites() -> None:
    alice = client_for("alice")
    other = {"Sec-Fetch-Site": "same-site", "Origin": "https://app.example"}
    problem(post(alice, "/uploads", UPLOAD, headers=other), 403, "forbidden")
    with override_settings(CSRF_TRUSTED_ORIGINS=["https://app.example"]):
        assert post(alice, "/uploads", UPLOAD, headers=other).status_code == 201


@pytest.mark.usefixtures("rindle")
def test_uppy_needs_no_csrf_token_but_djangos_own_views_still_do() -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(make_user(f"carol-{id(strict)}"))
    assert post(strict, "/uploads", UPLOAD).status_code == 201
    assert post(strict, "/s3/multipart", {"filename": "b", "type": "text/plain"}).status_code == 200
    # The control: a view of the project's own is protected as usual.
    assert strict.post("/probe/").status_code == 403


# -- transactions --------------------------------------------------------------------------


@pytest.mark.usefixtures("rindle")
def test_atomic_requests_do_not_wrap_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in connections:
        monkeypatch.setitem(connections[name].settings_dict, "ATOMIC_REQUESTS", True)
    alice = client_for("alice")
    assert alice.get("/probe/").json() == {"in_transaction": True}  # the control
    IN_TRANSACTION.clear()
    assert post(alice, "/uploads", UPLOAD).status_code == 201
    assert IN_TRANSACTION == [False]


# -- under ASGI ----------------------------------------------------------------------------


@pytest.mark.usefixtures("rindle")
def test_the_api_under_asgi() -> None:
    client = AsyncClient()
    client.force_login(make_user(f"dave-{id(client)}"))

    async def upload() -> tuple[Any, Any]:
        opened = await client.post(f"{PREFIX}/uploads", UPLOAD, content_type="application/json")
        listed = await client.get(f"{PREFIX}/uploads/{opened.json()['session']['id']}")
        return opened, listed

    opened, listed = asyncio.run(upload())
    assert opened.status_code == 201, opened.content
    assert listed.json()["session"]["state"] == "signed"
    refused = asyncio.run(
        client.get(
            f"{PREFIX}/s3/params", {"filename": "a"}, headers={"Origin": "https://evil.example"}
        )
    )
    problem(refused, 403, "forbidden")


# -- the receiver as a Django view ---------------------------------------------------------


def test_the_receiver_served_by_django(
    alias: str, receiver_url: tuple[Path, str], tmp_path: Path, caplog: Any
) -> None:
    root, _ = receiver_url
    value = rindle_settings(root, "http://testserver/files", alias)
    with override_settings(RINDLE=value):
        alice = client_for("alice")
        opened = post(alice, "/uploads", UPLOAD)
        upload = opened.json()["upload"]
        url = urlsplit(upload["url"])
        assert url.path.startswith("/files/o/")
        forged = alice.put(f"{url.path}?{url.query}x", DATA, content_type="text/plain")
        assert forged.status_code == 403
        sent = alice.put(f"{url.path}?{url.query}", DATA, content_type="text/plain")
        assert sent.status_code == 200, b"".join(sent.streaming_content)
        done = post(alice, f"/uploads/{opened.json()['session']['id']}/complete")
        assert done.json()["asset"]["state"] == "available"
        link = urlsplit(
            alice.get(f"{PREFIX}/uploads/{done.json()['session']['id']}/download").json()["url"]
        )
        served = alice.get(f"{link.path}?{link.query}", headers={"Range": "bytes=0-4"})
        assert served.status_code == 206
        assert b"".join(served.streaming_content) == DATA[:5]

    two = {
        **value,
        "STORAGE": {**value["STORAGE"], "more": {"type": "local", "root": str(tmp_path)}},
    }
    with override_settings(RINDLE=two):
        assert Client().put("/files/o/x", b"", content_type="text/plain").status_code == 500
    assert "RINDLE['RECEIVER'] must name the local storage" in caplog.text
    with override_settings(RINDLE={**two, "RECEIVER": "files"}):
        assert Client().put("/files/o/x", b"", content_type="text/plain").status_code == 403
