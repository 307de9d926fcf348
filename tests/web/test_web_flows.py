"""Every upload flow through every mount: rindle's own routes and Uppy's, on a real
broker (SQLite + the memory fake, whose client helpers stand in for the browser)."""

from __future__ import annotations

import datetime as dt

from fakes import PNG, MemoryStorage, etag_of
from rindle_core import Broker, PresignedPost
from web_support import PREFIX, AuthorizeLog, Mounted


def _initiate(client: Mounted, headers: dict[str, str] | None = None, **fields: object) -> dict:
    body = {"profile": "images", "filename": "cat.png", "content_type": "image/png", **fields}
    answer = client.post("/uploads", body, headers=headers)
    assert answer.status == 201, answer.text
    return answer.json()


def test_single_put_is_initiated_signed_completed_and_downloaded(
    client: Mounted, memory: MemoryStorage, broker: Broker
) -> None:
    opened = _initiate(client, size=len(PNG), metadata={"album": "cats"})
    session = opened["session"]
    assert opened["upload"]["method"] == "PUT"
    assert opened["upload"]["headers"]["Content-Type"] == "image/png"
    assert session["state"] == "signed" and session["metadata"] == {"album": "cats"}

    memory.client_put(session["storage_key"], PNG, "image/png")
    done = client.post(f"/uploads/{session['id']}/complete")
    assert done.status == 200, done.text
    assert done.json()["session"]["state"] == "completed"
    assert done.json()["asset"]["state"] == "available"
    # A replayed complete answers the same, and changes nothing.
    again = client.post(f"/uploads/{session['id']}/complete")
    assert again.status == 200 and again.json() == done.json()

    status = client.get(f"/uploads/{session['id']}")
    assert status.json()["asset"]["byte_size"] == len(PNG)
    download = client.get(
        f"/uploads/{session['id']}/download", query=[("disposition", "attachment")]
    )
    assert download.status == 200, download.text
    signed = download.json()
    assert signed["method"] == "GET"
    assert memory.gets[-1].content_disposition.startswith("attachment")
    assert broker.get_session(session["id"]).owner == "alice"


def test_initiate_points_at_the_session_below_the_mount(client: Mounted) -> None:
    answer = client.post(
        "/uploads", {"profile": "any", "filename": "a.txt", "content_type": "text/plain"}
    )
    assert answer.headers["location"] == f"{PREFIX}/uploads/{answer.json()['session']['id']}"
    assert answer.headers["cache-control"] == "no-store"


def test_presigned_post_is_signed_and_completed(client: Mounted, memory: MemoryStorage) -> None:
    opened = _initiate(client, strategy="presigned_post")
    form = opened["form"]
    assert form["method"] == "POST" and form["fields"]["key"] == opened["session"]["storage_key"]
    resigned = client.post(f"/uploads/{opened['session']['id']}/sign")
    assert resigned.status == 200 and "form" in resigned.json()

    post = PresignedPost(form["url"], form["fields"], dt.datetime.fromisoformat(form["expires_at"]))
    memory.client_post(post, PNG)
    done = client.post(f"/uploads/{opened['session']['id']}/complete", {})
    assert done.status == 200, done.text
    assert done.json()["session"]["strategy"] == "presigned_post"


def test_multipart_signs_in_batches_lists_and_completes(
    client: Mounted, memory: MemoryStorage
) -> None:
    data = PNG + bytes(300)
    opened = _initiate(client, strategy="multipart", size=len(data), part_size=200)
    session_id = opened["session"]["id"]
    assert opened["multipart"] == {
        "part_size": 200,
        "part_count": 3,
        "part_headers": {},
        "checksum_algorithm": None,
    }

    signed = client.post(f"/uploads/{session_id}/parts", {"part_numbers": [1, 2, 3]})
    assert signed.status == 200, signed.text
    assert [p["part_number"] for p in signed.json()["parts"]] == [1, 2, 3]
    upload_id = signed.json()["parts"][0]["url"].split("/")[3]
    etags = [memory.client_put_part(upload_id, n, data[(n - 1) * 200 : n * 200]) for n in (1, 2)]

    listed = client.get(f"/uploads/{session_id}/parts").json()
    assert [p["part_number"] for p in listed["parts"]] == [1, 2]
    assert listed["missing_part_numbers"] == [3]
    progress = client.get(f"/uploads/{session_id}/progress").json()
    assert progress["committed_bytes"] == 400

    etags.append(memory.client_put_part(upload_id, 3, data[400:]))
    parts = [{"part_number": n, "etag": e} for n, e in zip((1, 2, 3), etags, strict=True)]
    done = client.post(f"/uploads/{session_id}/complete", {"parts": parts})
    assert done.status == 200, done.text
    assert done.json()["asset"]["state"] == "available"
    assert client.post(f"/uploads/{session_id}/complete", {"parts": parts}).json() == done.json()
    assert memory.objects[opened["session"]["storage_key"]][0] == data


def test_resumable_hands_its_uri_once_reports_progress_and_cancels(client: Mounted) -> None:
    opened = _initiate(client, strategy="resumable", headers={"Origin": "https://app.example"})
    assert opened["resumable"]["session_uri"].startswith("memory://resumable/")
    session_id = opened["session"]["id"]
    status = client.get(f"/uploads/{session_id}")
    assert "session_uri" not in status.text
    assert client.get(f"/uploads/{session_id}/progress").json()["state"] == "in_progress"
    aborted = client.delete(f"/uploads/{session_id}")
    assert aborted.status == 200 and aborted.json()["session"]["state"] == "aborted"


def test_abort_is_idempotent(client: Mounted) -> None:
    session_id = _initiate(client)["session"]["id"]
    first = client.delete(f"/uploads/{session_id}")
    assert first.status == 200 and first.json()["session"]["state"] == "aborted"
    assert client.delete(f"/uploads/{session_id}").json() == first.json()


def test_uppy_multipart_with_a_resume_and_mixed_etags(
    client: Mounted, memory: MemoryStorage, broker: Broker
) -> None:
    created = client.post(
        "/s3/multipart",
        {
            "filename": "clip.bin",
            "type": "application/octet-stream",
            "metadata": {"name": "clip.bin", "relativePath": None},
        },
    )
    assert created.status == 200, created.text
    upload_id, key = created.json()["uploadId"], created.json()["key"]
    session = broker.get_session(upload_id)
    assert (session.storage_key, session.owner) == (key, "alice")
    assert session.metadata == {"name": "clip.bin", "relativePath": None}

    chunks = [b"a" * 100, b"b" * 100, b"c" * 10]
    signed = client.get(f"/s3/multipart/{upload_id}/1", query=[("key", key)])
    assert signed.status == 200, signed.text
    remote = signed.json()["url"].split("/")[3]
    memory.client_put_part(remote, 1, chunks[0])

    # The page reloads: Uppy lists the parts and signs only the missing ones.
    listed = client.get(f"/s3/multipart/{upload_id}", query=[("key", key)])
    assert listed.json() == [{"PartNumber": 1, "Size": 100, "ETag": etag_of(chunks[0])}]
    etags = [listed.json()[0]["ETag"]]  # quoted, as listed
    for number in (2, 3):
        url = client.get(f"/s3/multipart/{upload_id}/{number}", query=[("key", key)])
        assert url.status == 200
        etags.append(memory.client_put_part(remote, number, chunks[number - 1]).strip('"'))

    parts = [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2, 3), etags, strict=True)]
    done = client.post(
        f"/s3/multipart/{upload_id}/complete", {"parts": parts}, query=[("key", key)]
    )
    assert done.status == 200, done.text
    assert done.json() == {"location": f"{PREFIX}/uploads/{upload_id}", "key": key}
    replay = client.post(
        f"/s3/multipart/{upload_id}/complete", {"parts": parts}, query=[("key", key)]
    )
    assert replay.status == 200 and replay.json() == done.json()
    assert memory.objects[key][0] == b"".join(chunks)
    assert broker.get_asset(session.asset_id).state.value == "available"


def test_uppy_single_file_post_then_complete_by_key(
    client: Mounted, memory: MemoryStorage, broker: Broker
) -> None:
    query = [
        ("filename", "cat.png"),
        ("type", "image/png"),
        ("metadata[name]", "cat.png"),
        ("metadata[type]", "image/png"),
    ]
    params = client.get("/s3/params", query=query)
    assert params.status == 200, params.text
    form = params.json()
    assert form["method"] == "POST" and set(form) == {"method", "url", "fields"}
    key = form["fields"]["key"]

    post = PresignedPost(form["url"], form["fields"], memory.posts[-1].expires_at)
    memory.client_post(post, PNG)
    done = client.post("/s3/complete", query=[("key", key)])
    assert done.status == 200, done.text
    assert done.json()["key"] == key
    session_id = done.json()["location"].rsplit("/", 1)[1]
    session = broker.get_session(session_id)
    assert session.state.value == "completed" and session.upload_strategy == "presigned_post"
    assert session.metadata == {"name": "cat.png", "type": "image/png"}
    assert client.post("/s3/complete", query=[("key", key)]).json() == done.json()


def test_uppy_abort_removes_the_remote_upload(client: Mounted, memory: MemoryStorage) -> None:
    created = client.post("/s3/multipart", {"filename": "x.bin", "type": "", "metadata": {}})
    upload_id, key = created.json()["uploadId"], created.json()["key"]
    remote = client.get(f"/s3/multipart/{upload_id}/1", query=[("key", key)]).json()["url"]
    assert remote.split("/")[3] in memory.uploads
    gone = client.delete(f"/s3/multipart/{upload_id}", query=[("key", key)])
    assert gone.status == 204 and gone.body == b""
    assert remote.split("/")[3] not in memory.uploads
    assert client.delete(f"/s3/multipart/{upload_id}", query=[("key", key)]).status == 204


def test_authorize_is_asked_for_every_action(
    client: Mounted, memory: MemoryStorage, authorize_log: AuthorizeLog
) -> None:
    opened = _initiate(client, size=len(PNG))
    session_id = opened["session"]["id"]
    memory.client_put(opened["session"]["storage_key"], PNG, "image/png")
    client.post(f"/uploads/{session_id}/sign")
    client.get(f"/uploads/{session_id}")
    client.post(f"/uploads/{session_id}/complete")
    client.get(f"/uploads/{session_id}/download")
    client.delete(f"/uploads/{session_id}")
    assert authorize_log == [
        ("initiate", "images", None),
        ("sign", "images", session_id),
        ("status", "images", session_id),
        ("complete", "images", session_id),
        ("download", "images", session_id),
        ("abort", "images", session_id),
    ]
