"""Owner and client metadata on sessions and assets (issue 11, item 2's data side).

Set at initiate by every strategy, checked before anything is written or
created remotely, stored with the rows, read back on every snapshot, used to
filter listings, and never logged. Every broker test runs on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import operator
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import pluggy
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from fakes import PNG, MemoryStorage, broker_factory
from rindle_core import (
    AssetState,
    Broker,
    Database,
    InvalidArgument,
    SessionState,
    UploadSession,
)
from rindle_core._client_metadata import (
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    check_metadata,
    check_owner,
)
from rindle_core._frozen import thaw
from rindle_core.db import assets_table, sessions_table

#: Looks like something a host would not want in its logs.
SECRET = "tok-7f3a9c1e-do-not-log"
METADATA: dict[str, Any] = {
    "album": "holidays",
    "tags": ["sea", "sun"],
    "rating": 4.5,
    "count": 3,
    "public": False,
    "note": None,
    "nested": {"api_key": SECRET, "deep": {"x": [1, {"y": "z"}]}},
}


@pytest.fixture
def make_broker(
    any_db: Database, memory: MemoryStorage, pm: pluggy.PluginManager
) -> Callable[..., Broker]:
    """Brokers on SQLite and on PostgreSQL: every broker test here runs on both."""
    return broker_factory(any_db, memory, pm)


def _counts(broker: Broker) -> tuple[int, int]:
    with broker.database.engine.connect() as conn:
        sessions = conn.execute(sa.select(sa.func.count()).select_from(sessions_table)).scalar()
        assets = conn.execute(sa.select(sa.func.count()).select_from(assets_table)).scalar()
    return int(sessions or 0), int(assets or 0)


# -- each strategy: initiate with owner and metadata, upload, verify, promote -------


def _put(broker: Broker, memory: MemoryStorage, **extra: Any) -> UploadSession:
    session = broker.initiate_session(
        "images", filename="cat.png", content_type="image/png", size=len(PNG), **extra
    )
    broker.sign_url(session.id)
    memory.client_put(session.storage_key, PNG, "image/png")
    return session


def _multipart(broker: Broker, memory: MemoryStorage, **extra: Any) -> UploadSession:
    started = broker.initiate_multipart_session(
        "images",
        filename="cat.png",
        content_type="image/png",
        size=len(PNG),
        part_size=64,
        **extra,
    )
    broker.sign_multipart_parts(started.session.id, [1, 2])
    memory.client_put_part(started.multipart.upload_id, 1, PNG[:64])
    memory.client_put_part(started.multipart.upload_id, 2, PNG[64:])
    return started.session


def _resumable(broker: Broker, memory: MemoryStorage, **extra: Any) -> UploadSession:
    started = broker.initiate_resumable_session(
        "images", filename="cat.png", content_type="image/png", size=len(PNG), **extra
    )
    memory.resumable[started.resumable.session_uri] += PNG
    memory.client_put(started.session.storage_key, PNG, "image/png")
    return started.session


STRATEGIES = {"presigned_put": _put, "multipart": _multipart, "resumable": _resumable}


def _finish(broker: Broker, session: UploadSession) -> Any:
    if session.upload_strategy == "multipart":
        return broker.complete_multipart_upload(session.id, None)
    return broker.verify_completion(session.id)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_owner_and_metadata_round_trip_through_every_strategy(
    broker: Broker,
    memory: MemoryStorage,
    strategy: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="rindle"):
        opened = STRATEGIES[strategy](broker, memory, owner="user-42", metadata=METADATA)
        assert opened.upload_strategy == strategy
        assert opened.owner == "user-42"
        assert thaw(opened.metadata) == METADATA
        stored = broker.get_session(opened.id)
        assert (stored.owner, thaw(stored.metadata)) == ("user-42", METADATA)
        assert stored.to_dict()["owner"] == "user-42"
        assert stored.to_dict()["metadata"] == METADATA
        assert json.loads(json.dumps(stored.to_dict()))["metadata"] == METADATA

        result = _finish(broker, opened)
    logs = _events(caplog)
    assert result.session.state is SessionState.COMPLETED
    assert (result.session.owner, thaw(result.session.metadata)) == ("user-42", METADATA)
    asset = broker.get_asset(opened.asset_id)
    assert asset.state is AssetState.AVAILABLE  # promoted inline: the columns survive
    assert (asset.owner, thaw(asset.client_metadata)) == ("user-42", METADATA)
    assert asset.metadata == {"declared_size": len(PNG)}  # rindle's own, apart
    assert asset.to_dict()["owner"] == "user-42"
    assert asset.to_dict()["client_metadata"] == METADATA
    # The caller's metadata is never logged, nor shown in a repr; the owner may be.
    assert logs, "the flow logs its transitions"
    assert SECRET not in repr(logs) + caplog.text
    assert SECRET not in repr(result) and SECRET not in repr(asset)
    assert "user-42" in repr(result.session)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_without_owner_and_metadata_nothing_changes(
    broker: Broker, memory: MemoryStorage, strategy: str
) -> None:
    opened = STRATEGIES[strategy](broker, memory)
    assert (opened.owner, dict(opened.metadata)) == (None, {})
    _finish(broker, opened)
    asset = broker.get_asset(opened.asset_id)
    assert (asset.owner, dict(asset.client_metadata)) == (None, {})
    assert broker.get_session(opened.id).to_dict()["metadata"] == {}


def test_snapshots_are_frozen_and_hashable(broker: Broker) -> None:
    session = broker.initiate_session(
        "images", filename="a.png", content_type="image/png", owner="u", metadata=METADATA
    )
    with pytest.raises(TypeError):
        operator.setitem(session.metadata, "album", "x")
    assert isinstance(session.metadata["tags"], tuple)
    nested = session.metadata["nested"]
    assert isinstance(nested, Mapping)
    with pytest.raises(TypeError):
        operator.setitem(nested, "api_key", "y")
    assert hash(session) == hash(broker.get_session(session.id))
    asset = broker.get_asset(session.asset_id)
    assert hash(asset) == hash(broker.get_asset(session.asset_id))
    assert asset.client_metadata == session.metadata


def test_metadata_is_stored_as_the_database_returns_it(broker: Broker) -> None:
    class Colour(enum.IntEnum):
        RED = 1

    given_metadata = {"tuple": (1, 2), "colour": Colour.RED, "text": "naïve ☃"}
    session = broker.initiate_session(
        "images", filename="a.png", content_type="image/png", metadata=given_metadata
    )
    expected = {"tuple": [1, 2], "colour": 1, "text": "naïve ☃"}
    assert thaw(session.metadata) == expected
    assert type(session.metadata["colour"]) is int
    assert broker.get_session(session.id) == session


def test_metadata_may_be_any_mapping_even_another_snapshots(broker: Broker) -> None:
    first = broker.initiate_session(
        "images", filename="a.png", content_type="image/png", metadata=METADATA
    )
    copied = broker.initiate_session(
        "images", filename="b.png", content_type="image/png", metadata=first.metadata
    )
    proxied = broker.initiate_session(
        "images", filename="c.png", content_type="image/png", metadata=MappingProxyType(METADATA)
    )
    assert thaw(copied.metadata) == thaw(proxied.metadata) == METADATA
    assert broker.get_session(copied.id).metadata == first.metadata


def test_limits_are_inclusive(broker: Broker) -> None:
    owner = "o" * 255
    filler = "x" * (MAX_METADATA_BYTES - len('{"k":""}'))
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(MAX_METADATA_DEPTH - 1):
        inner["d"] = {}
        inner = inner["d"]
    session = broker.initiate_session(
        "images", filename="a.png", content_type="image/png", owner=owner, metadata={"k": filler}
    )
    assert broker.get_session(session.id).owner == owner
    assert broker.get_session(session.id).metadata == {"k": filler}
    other = broker.initiate_session(
        "images", filename="a.png", content_type="image/png", owner="josé", metadata=deep
    )
    assert thaw(broker.get_session(other.id).metadata) == deep
    assert broker.get_session(other.id).owner == "josé"


# -- bad values: refused before anything is written or created remotely -------------


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"d": value}
    return value


def _cycle() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["self"] = value
    return value


BAD_OWNERS: list[Any] = ["", "   ", "o" * 256, "a\nb", "tab\there", "nul\x00", 42, b"user", ["u"]]
BAD_METADATA: list[Any] = [
    ["a list"],
    "text",
    42,
    {1: "int key"},
    {("t",): "tuple key"},
    {"a": math.nan},
    {"a": math.inf},
    {"a": [-math.inf]},
    {"a": b"bytes"},
    {"a": {1, 2}},
    {"a": object()},
    {"a": "\ud800"},
    {"a\x00": 1},
    {"a": 10**5000},
    {"a": "x" * MAX_METADATA_BYTES},
    _nested(MAX_METADATA_DEPTH + 1),
    {"a": [[[[[[[[1]]]]]]]]},
    _cycle(),
]


def _open(broker: Broker, strategy: str, **extra: Any) -> object:
    common: dict[str, Any] = {"filename": "a.png", "content_type": "image/png", "size": 10}
    if strategy == "multipart":
        return broker.initiate_multipart_session("images", **common, **extra)
    if strategy == "resumable":
        return broker.initiate_resumable_session("images", **common, **extra)
    return broker.initiate_session("images", **common, **extra)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize(
    "extra",
    [{"owner": o} for o in BAD_OWNERS] + [{"metadata": m} for m in BAD_METADATA],
    ids=[f"owner{i}" for i in range(len(BAD_OWNERS))]
    + [f"metadata{i}" for i in range(len(BAD_METADATA))],
)
def test_bad_owner_or_metadata_is_refused_and_nothing_is_written(
    broker: Broker, memory: MemoryStorage, strategy: str, extra: dict[str, Any]
) -> None:
    _open(broker, strategy, owner="someone")  # an existing row, untouched
    before = _counts(broker)
    calls = list(memory.calls)
    with pytest.raises(InvalidArgument) as caught:
        _open(broker, strategy, **extra)
    assert _counts(broker) == before
    assert memory.calls == calls  # no remote upload or session was created
    assert SECRET not in str(caught.value)


def test_refusals_never_echo_the_values(broker: Broker) -> None:
    for bad in ({"api_key": SECRET, "x": math.nan}, {"api_key": SECRET, "blob": b"1"}):
        with pytest.raises(InvalidArgument) as caught:
            broker.initiate_session(
                "images", filename="a.png", content_type="image/png", metadata=bad
            )
        assert SECRET not in str(caught.value) and "api_key" not in str(caught.value)
    with pytest.raises(InvalidArgument) as caught:
        broker.initiate_session(
            "images", filename="a.png", content_type="image/png", owner=SECRET + "\n"
        )
    assert SECRET not in str(caught.value)


# -- listing by owner ------------------------------------------------------------------


def test_list_sessions_filters_by_owner(broker: Broker) -> None:
    def start(owner: str | None, profile: str = "images") -> UploadSession:
        return broker.initiate_session(
            profile, filename="a.png", content_type="image/png", owner=owner
        )

    alice = [start("alice"), start("alice", "any"), start("alice")]
    bob = start("bob")
    nobody = start(None)
    broker.sign_url(alice[2].id)

    listed = broker.list_sessions(owner="alice")
    assert [s.id for s in listed] == [s.id for s in reversed(alice)]  # newest first
    assert {s.owner for s in listed} == {"alice"}
    assert [s.id for s in broker.list_sessions(owner="bob")] == [bob.id]
    assert broker.list_sessions(owner="carol") == []
    assert [s.id for s in broker.list_sessions(owner="alice", profile="any")] == [alice[1].id]
    assert [s.id for s in broker.list_sessions(owner="alice", state="signed")] == [alice[2].id]
    assert [s.id for s in broker.list_sessions(owner="alice", limit=1)] == [alice[2].id]
    everyone = {s.id for s in broker.list_sessions()}
    assert everyone == {s.id for s in [*alice, bob, nobody]}


@pytest.mark.parametrize("owner", ["", "a\nb", "o" * 256, 7])
def test_list_sessions_refuses_a_bad_owner(broker: Broker, owner: Any) -> None:
    with pytest.raises(InvalidArgument, match="owner"):
        broker.list_sessions(owner=owner)


# -- the pure checks -------------------------------------------------------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
)
_keys = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
_json_values = st.recursive(
    _json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(_keys, _json_values, max_size=6))
def test_any_json_object_within_the_limits_is_kept_as_given(value: dict[str, Any]) -> None:
    checked = check_metadata(value)
    assert thaw(checked) == value
    assert json.loads(json.dumps(thaw(checked), allow_nan=False)) == value


def test_none_means_no_owner_and_empty_metadata() -> None:
    assert check_owner(None) is None
    assert check_metadata(None) == {}
    assert check_owner("tenant/7 user:42") == "tenant/7 user:42"


def _events(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    """rindle's log records as ``{"event", "log_level", **fields}`` dicts."""
    return [
        {"event": r.rindle_event, "log_level": r.levelname.lower(), **r.rindle_fields}
        for r in caplog.records
        if hasattr(r, "rindle_event")
    ]


def test_list_sessions_finds_the_session_of_a_storage_key(broker: Broker) -> None:
    first = broker.initiate_session("images", filename="a.png", content_type="image/png")
    broker.initiate_session("images", filename="b.png", content_type="image/png")
    found = broker.list_sessions(storage_key=first.storage_key)
    assert [s.id for s in found] == [first.id]
    assert broker.list_sessions(storage_key="no/such/key") == []
    with pytest.raises(InvalidArgument):
        broker.list_sessions(storage_key=7)  # type: ignore[arg-type]
