"""Bad input at the HTTP boundary: a 4xx problem, and nothing changed.

Malformed JSON, a wrong content type, an unknown profile, someone else's
session, oversize or wrong-type declarations, part numbers out of range,
replays; and the authorize hook's refusals (including no hook at all).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest

from fakes import PNG, MemoryStorage
from rindle_core import Broker
from rindle_core.web import Action, Denied, Request, UploadAPI
from web_support import PREFIX, ContractCheck, Mounted, Result, mount

IMAGE = {"profile": "images", "filename": "cat.png", "content_type": "image/png"}


def _problem(answer: Result, status: int, slug: str) -> dict:
    assert answer.status == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["status"] == status
    assert body["type"].endswith(f"#{slug}"), body
    assert body["title"] and body["detail"]
    return body


def _nothing_written(broker: Broker) -> None:
    assert broker.list_sessions() == []


# -- the body ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"{", "not valid JSON"),
        (b'{"profile": NaN}', "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'["images"]', "must be a JSON object"),
        (b"{}", "'profile' must be a string"),
    ],
)
def test_a_malformed_body_is_refused(
    neutral: Mounted, broker: Broker, raw: bytes, why: str
) -> None:
    answer = neutral.request(
        "POST", "/uploads", content=raw, headers={"Content-Type": "application/json"}
    )
    assert answer.status == 400
    assert why in answer.json()["detail"]
    _nothing_written(broker)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_415(
    client: Mounted, broker: Broker, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = client.request("POST", "/uploads", content=json.dumps(IMAGE).encode(), headers=headers)
    _problem(answer, 415, "unsupported-media-type")
    _nothing_written(broker)


def test_a_body_over_the_limit_is_413_whatever_the_mount(client: Mounted, broker: Broker) -> None:
    huge = {**IMAGE, "metadata": {"blob": "x" * (client.api.max_body + 10)}}
    _problem(client.post("/uploads", huge), 413, "payload-too-large")
    _nothing_written(broker)


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"size": "12"}, "'size' must be an integer"),
        ({"size": True}, "'size' must be an integer"),
        ({"filename": 7}, "'filename' must be a string"),
        ({"metadata": ["a"]}, "'metadata' must be a JSON object"),
        ({"strategy": "ftp"}, "'strategy' must be one of"),
        ({"part_size": 1024}, "only for the multipart strategy"),
        ({"colour": "red"}, "unknown field(s) 'colour'"),
        ({"content_type": "not a type"}, "malformed content type"),
        ({"metadata": {"blob": "x" * 20_000}}, "metadata"),
        ({"size": -1}, "size must be an integer"),
    ],
)
def test_wrong_fields_are_invalid_arguments(
    neutral: Mounted, broker: Broker, fields: dict, detail: str
) -> None:
    body = _problem(neutral.post("/uploads", {**IMAGE, **fields}), 400, "invalid-argument")
    assert detail in body["detail"]
    _nothing_written(broker)


# -- the declaration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"size": 2_000_000}, "max_bytes_exceeded"),
        ({"content_type": "text/html", "filename": "cat.html"}, "mime_not_allowed"),
        ({"filename": "cat.jpg"}, "extension_type_mismatch"),
    ],
)
def test_declarations_the_profile_refuses_are_422(
    client: Mounted, broker: Broker, fields: dict, reason: str
) -> None:
    body = _problem(client.post("/uploads", {**IMAGE, **fields}), 422, "policy-violation")
    assert body["reason"] == reason
    _nothing_written(broker)


def test_an_unknown_profile_is_404(client: Mounted, broker: Broker) -> None:
    _problem(client.post("/uploads", {**IMAGE, "profile": "nope"}), 404, "unknown-profile")
    _nothing_written(broker)


def test_a_profile_not_exposed_is_unknown(
    broker: Broker, authorize: Callable, contract: ContractCheck
) -> None:
    hidden = broker.initiate_session(
        "any", filename="a.txt", content_type="text/plain", owner="alice"
    )
    api = contract.watch(UploadAPI(broker, authorize=authorize, profiles=["images"]))
    with mount("neutral", api) as client:
        _problem(client.post("/uploads", {**IMAGE, "profile": "any"}), 404, "unknown-profile")
        _problem(client.get(f"/uploads/{hidden.id}"), 404, "session-not-found")
        # One profile exposed: Uppy's uploads go there.
        assert (
            client.post("/s3/multipart", {"filename": "a.png", "type": "image/png"}).status == 200
        )


# -- other people's sessions ----------------------------------------------------------------


def _session_routes(session_id: str, key: str) -> list[tuple[str, str, dict]]:
    by_key = {"query": [("key", key)]}
    return [
        ("GET", f"/uploads/{session_id}", {}),
        ("POST", f"/uploads/{session_id}/sign", {}),
        ("POST", f"/uploads/{session_id}/parts", {"json_body": {"part_numbers": [1]}}),
        ("GET", f"/uploads/{session_id}/parts", {}),
        ("GET", f"/uploads/{session_id}/progress", {}),
        ("POST", f"/uploads/{session_id}/complete", {}),
        ("GET", f"/uploads/{session_id}/download", {}),
        ("DELETE", f"/uploads/{session_id}", {}),
        ("GET", f"/s3/multipart/{session_id}", by_key),
        ("GET", f"/s3/multipart/{session_id}/1", by_key),
        ("POST", f"/s3/multipart/{session_id}/complete", {**by_key, "json_body": {"parts": []}}),
        ("DELETE", f"/s3/multipart/{session_id}", by_key),
    ]


@pytest.mark.parametrize("index", range(12))
def test_someone_elses_session_is_not_found_and_untouched(
    neutral: Mounted, broker: Broker, index: int
) -> None:
    mine = neutral.post(
        "/s3/multipart", {"filename": "a.bin", "type": "application/octet-stream"}, user="alice"
    ).json()
    before = broker.get_session(mine["uploadId"])
    missing = "0" * 32
    method, path, extra = _session_routes(mine["uploadId"], mine["key"])[index]
    theirs = neutral.request(method, path, user="mallory", **extra)
    body = _problem(theirs, 404, "session-not-found")
    # Exactly what a session that does not exist gets (the id aside).
    method, path, extra = _session_routes(missing, mine["key"])[index]
    nobody = neutral.request(method, path, user="mallory", **extra)
    assert nobody.status == 404
    assert body == {
        **nobody.json(),
        "detail": nobody.json()["detail"].replace(missing, mine["uploadId"]),
    }
    assert broker.get_session(mine["uploadId"]) == before


def test_a_session_without_owner_is_not_reachable(neutral: Mounted, broker: Broker) -> None:
    session = broker.initiate_session("images", filename="a.png", content_type="image/png")
    _problem(neutral.get(f"/uploads/{session.id}"), 404, "session-not-found")


def test_uppy_needs_the_sessions_own_key(neutral: Mounted, broker: Broker) -> None:
    mine = neutral.post("/s3/multipart", {"filename": "a.bin"}).json()
    other = neutral.post("/s3/multipart", {"filename": "b.bin"}).json()
    # Alice's own other key does not open this upload either.
    wrong = neutral.get(f"/s3/multipart/{mine['uploadId']}/1", query=[("key", other["key"])])
    _problem(wrong, 404, "session-not-found")
    nokey = neutral.get(f"/s3/multipart/{mine['uploadId']}/1")
    assert "'key' is required" in _problem(nokey, 400, "invalid-argument")["detail"]
    assert broker.get_session(mine["uploadId"]).state.value == "initialized"


def test_completing_someone_elses_key_names_only_the_key(
    neutral: Mounted, memory: MemoryStorage
) -> None:
    form = neutral.get("/s3/params", query=[("filename", "a.png"), ("type", "image/png")]).json()
    key = form["fields"]["key"]
    theirs = _problem(
        neutral.post("/s3/complete", query=[("key", key)], user="mallory"), 404, "session-not-found"
    )
    nobody = _problem(
        neutral.post("/s3/complete", query=[("key", key + "x")], user="mallory"),
        404,
        "session-not-found",
    )
    assert theirs["detail"] == nobody["detail"].replace(key + "x", key)
    assert all(c not in theirs["detail"] for c in memory.uploads)


# -- part numbers, states, replays -----------------------------------------------------------


@pytest.mark.parametrize("numbers", [[0], [10_001], ["1"], [True], [], list(range(1, 1002))])
def test_part_numbers_out_of_range_are_refused(
    neutral: Mounted, broker: Broker, numbers: list
) -> None:
    body = {**IMAGE, "strategy": "multipart", "size": 500}
    session_id = neutral.post("/uploads", body).json()["session"]["id"]
    answer = neutral.post(f"/uploads/{session_id}/parts", {"part_numbers": numbers})
    _problem(answer, 400, "invalid-argument")
    assert broker.get_session(session_id).state.value == "initialized"


@pytest.mark.parametrize("raw", ["0", "10001", "abc", "-1", "1.5"])
def test_uppy_part_numbers_out_of_range_are_refused(neutral: Mounted, raw: str) -> None:
    created = neutral.post("/s3/multipart", {"filename": "a.bin"}).json()
    answer = neutral.get(
        f"/s3/multipart/{created['uploadId']}/{raw}", query=[("key", created["key"])]
    )
    _problem(answer, 400, "invalid-argument")


@pytest.mark.parametrize(
    ("parts", "slug"),
    [
        ("all", "invalid-parts"),
        ([{"PartNumber": "1", "ETag": "x"}], "invalid-parts"),
        ([{"PartNumber": 1}], "invalid-parts"),
        ([{"PartNumber": 1, "ETag": '""'}], "invalid-parts"),
        ([], "invalid-parts"),
        ([{"PartNumber": 2, "ETag": "abc"}], "invalid-parts"),
    ],
)
def test_uppy_bad_part_lists_are_refused(neutral: Mounted, parts: object, slug: str) -> None:
    created = neutral.post("/s3/multipart", {"filename": "a.bin"}).json()
    neutral.get(f"/s3/multipart/{created['uploadId']}/1", query=[("key", created["key"])])
    answer = neutral.post(
        f"/s3/multipart/{created['uploadId']}/complete",
        {"parts": parts},
        query=[("key", created["key"])],
    )
    _problem(answer, 400, slug)


def test_completing_before_the_upload_is_409_and_changes_nothing(
    client: Mounted, broker: Broker
) -> None:
    session_id = client.post("/uploads", IMAGE).json()["session"]["id"]
    _problem(client.post(f"/uploads/{session_id}/complete"), 409, "object-missing")
    assert broker.get_session(session_id).state.value == "signed"


def test_a_finished_session_cannot_be_signed_or_aborted(
    neutral: Mounted, memory: MemoryStorage
) -> None:
    opened = neutral.post("/uploads", IMAGE).json()["session"]
    memory.client_put(opened["storage_key"], PNG, "image/png")
    assert neutral.post(f"/uploads/{opened['id']}/complete").status == 200
    body = _problem(neutral.post(f"/uploads/{opened['id']}/sign"), 409, "invalid-transition")
    assert body["state"] == "completed"
    _problem(neutral.delete(f"/uploads/{opened['id']}"), 409, "invalid-transition")


def test_parts_on_a_single_put_session_are_refused(neutral: Mounted) -> None:
    session_id = neutral.post("/uploads", IMAGE).json()["session"]["id"]
    answer = neutral.post(f"/uploads/{session_id}/complete", {"parts": [{"part_number": 1}]})
    assert "only for multipart" in _problem(answer, 400, "invalid-argument")["detail"]


def test_an_expired_session_is_410(
    make_broker: Callable[..., Broker], authorize: Callable, contract: ContractCheck
) -> None:
    now = [dt.datetime.now(dt.UTC)]
    broker = make_broker(clock=lambda: now[0])
    api = contract.watch(UploadAPI(broker, authorize=authorize))
    with mount("neutral", api) as client:
        session_id = client.post("/uploads", IMAGE).json()["session"]["id"]
        now[0] += dt.timedelta(days=2)
        _problem(client.post(f"/uploads/{session_id}/sign"), 410, "session-expired")
        _problem(client.post(f"/uploads/{session_id}/complete"), 410, "session-expired")


def test_download_before_the_asset_is_available_is_409(neutral: Mounted) -> None:
    session_id = neutral.post("/uploads", IMAGE).json()["session"]["id"]
    body = _problem(neutral.get(f"/uploads/{session_id}/download"), 409, "asset-not-available")
    assert body["state"] == "staged"
    bad = neutral.get(f"/uploads/{session_id}/download", query=[("disposition", "evil")])
    _problem(bad, 400, "invalid-argument")


def test_a_malformed_session_id_is_400(client: Mounted) -> None:
    _problem(client.get("/uploads/not-an-id"), 400, "invalid-argument")


# -- routes -------------------------------------------------------------------------------------


def test_unknown_routes_and_methods(client: Mounted) -> None:
    _problem(client.get("/nowhere"), 404, "not-found")
    wrong = _problem(client.request("PUT", "/uploads"), 405, "method-not-allowed")
    assert "PUT" in wrong["detail"]
    assert client.request("PATCH", f"/uploads/{'a' * 32}").headers["allow"] == "GET, DELETE"


def test_uppy_routes_are_off_without_a_profile_for_them(
    broker: Broker, authorize: Callable, contract: ContractCheck
) -> None:
    api = contract.watch(UploadAPI(broker, authorize=authorize))  # two profiles, no choice
    with mount("neutral", api) as client:
        answer = client.get("/s3/params", query=[("filename", "a.png")])
        assert "uppy_profile" in _problem(answer, 404, "not-found")["detail"]
        assert client.post("/s3/multipart", {"filename": "a.bin"}).status == 404
    _nothing_written(broker)


def test_uppy_params_need_a_filename(neutral: Mounted, broker: Broker) -> None:
    _problem(neutral.get("/s3/params"), 400, "invalid-argument")
    _nothing_written(broker)


# -- the authorize hook --------------------------------------------------------------------------


def test_without_a_hook_every_request_is_refused_with_what_to_do(
    broker: Broker, contract: ContractCheck, memory: MemoryStorage
) -> None:
    api = contract.watch(UploadAPI(broker, uppy_profile="any"))
    existing = broker.initiate_session(
        "any", filename="a.txt", content_type="text/plain", owner="alice"
    )
    with mount("neutral", api) as client:
        answers = [
            client.post("/uploads", IMAGE),
            client.get(f"/uploads/{existing.id}"),
            client.delete(f"/uploads/{existing.id}"),
            client.get("/s3/params", query=[("filename", "a.txt")]),
        ]
    for answer in answers:
        body = _problem(answer, 403, "authorization-not-configured")
        assert "authorize=" in body["detail"]
    assert [s.id for s in broker.list_sessions()] == [existing.id]
    assert broker.get_session(existing.id).state.value == "initialized"


def test_a_hook_returning_none_is_403(neutral: Mounted, broker: Broker) -> None:
    _problem(neutral.post("/uploads", IMAGE, user=None), 403, "forbidden")
    _nothing_written(broker)


@pytest.mark.parametrize(("status", "slug"), [(401, "unauthorized"), (403, "forbidden")])
def test_a_hook_may_deny_with_a_message(
    broker: Broker, contract: ContractCheck, status: int, slug: str
) -> None:
    def hook(request: Request, action: Action, profile: str, session: object) -> str | None:
        raise Denied("sign in first", status=status)

    with mount("neutral", contract.watch(UploadAPI(broker, authorize=hook))) as client:
        body = _problem(client.post("/uploads", IMAGE), status, slug)
    assert body["detail"] == "sign in first"


def test_a_hook_returning_garbage_is_a_500_without_detail(
    broker: Broker, contract: ContractCheck, caplog: pytest.LogCaptureFixture
) -> None:
    api = contract.watch(UploadAPI(broker, authorize=lambda *args: 42))
    with mount("neutral", api) as client:
        body = _problem(client.post("/uploads", IMAGE), 500, "internal-error")
    assert body["detail"] == "the request could not be handled"
    assert "TypeError" in caplog.text
    _nothing_written(broker)


def test_denied_refuses_other_statuses() -> None:
    with pytest.raises(ValueError, match="401 or 403"):
        Denied("x", status=404)


def test_the_mount_root_is_where_responses_point(neutral: Mounted) -> None:
    answer = neutral.post("/uploads", IMAGE)
    assert answer.headers["location"].startswith(PREFIX + "/uploads/")
