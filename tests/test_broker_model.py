"""A Hypothesis state machine over the broker, against a model.

Single PUTs go over real HTTP to the local receiver on 127.0.0.1 (the
``images`` profile, local backend); multipart sessions run on the in-memory
adapter (the ``big`` profile: the local backend has no multipart uploads),
whose part uploads honour the same rules a real backend does (a part URL of
a completed or aborted upload is refused, completion is create-only).

The model predicts every session's and asset's state after each step,
including the errors, and what storage holds:

* every ``available`` asset's stored bytes are the bytes the model uploaded
  and verified (by hash), served with the declared type, at the version
  verification recorded;
* a key holds an object exactly when the model says one was stored and not
  yet cleaned up, so a stale URL used after completion is refused (the
  object exists: create-only), and one used after an abort stores an orphan
  that maintenance's final sweep removes;
* the part ledger holds the parts of a completed multipart session, and
  nothing for any other (a refused completion leaves no rows).

Composite rules (a whole upload, a whole multipart upload, an abort
followed by a late PUT) start runs deep, so the modest example count still
reaches every path: ``pytest --hypothesis-show-statistics`` lists the
events each run recorded (``hypothesis.event``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fakes import PNG, ClientRefused, MemoryStorage, etag_of
from rindle_core import (
    AssetState,
    Broker,
    Database,
    InvalidParts,
    InvalidTransition,
    Profile,
    SessionExpired,
    StorageNotFound,
    StorageObjectMissing,
    TransferFailed,
    UploadedPart,
)
from rindle_core.client import UploadClient
from rindle_core.db import AssetRow, PartRow, SessionRow
from rindle_core.db._repo import asset_from_row
from rindle_core.local import LocalStorage, ReceiverServer, UploadReceiver
from rindle_core.plugins import make_plugin_manager

ROOT = Path(tempfile.mkdtemp(prefix="rindle-model-"))
SECRET = secrets.token_bytes(32)
# No fsync: the model checks logic, not durability (which test_local_storage covers).
SERVER = ReceiverServer(UploadReceiver(ROOT / "objects", SECRET, fsync=False))
CONTENTS = {"png": PNG, "text": b"not a picture, just words"}
#: A multipart upload: 3 parts of 10, 10 and 5 bytes.
BIG = bytes(range(100, 125))
PART_SIZE = 10
PARTS = {n: BIG[(n - 1) * PART_SIZE : n * PART_SIZE] for n in (1, 2, 3)}
TTL = 3600
LIVE = ("initialized", "signed")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: At most this many sessions of each kind per run, so steps go deep, not wide.
MAX_SESSIONS = 4


def _ids(machine: BrokerModel, kind: str) -> list[str]:
    """The model's sessions of *kind*, in creation order."""
    return [sid for sid, m in machine.model.items() if m["kind"] == kind]


def _room(kind: str) -> Callable[[BrokerModel], bool]:
    return lambda self: len(_ids(self, kind)) < MAX_SESSIONS


def _any(kind: str) -> Callable[[BrokerModel], bool]:
    return lambda self: bool(_ids(self, kind))


class BrokerModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = dt.datetime.now(dt.UTC)
        db = Database(f"sqlite:///{ROOT / (secrets.token_hex(6) + '.db')}")
        db.create_all()
        self.local = LocalStorage(ROOT / "objects", base_url=SERVER.url, secret=SECRET, fsync=False)
        self.memory = MemoryStorage()
        self.broker = Broker(
            db,
            profiles=[
                Profile(name="images", storage="files", allow_mime=["image/png"], session_ttl=TTL),
                Profile(name="big", storage="mem", session_ttl=TTL),
            ],
            storages={"files": self.local, "mem": self.memory},
            plugin_manager=make_plugin_manager(load_entrypoints=False),
            job_mode="worker",
            clock=lambda: self.now,
        )
        self.grace = self.broker.maintenance.cleanup_grace
        self.client = UploadClient(timeout=10)
        #: session id -> what the model knows about it
        self.model: dict[str, dict[str, Any]] = {}
        #: session id -> the asset state the model expects
        self.assets: dict[str, str] = {}

    def teardown(self) -> None:
        self.client.close()
        self.broker.database.dispose()

    def _new(self, session: Any, kind: str, **extra: Any) -> str:
        self.model[session.id] = {
            "kind": kind,
            "state": "initialized",
            "key": session.storage_key,
            "expires_at": session.expires_at,
            "stored": None,  # the bytes at the key, as far as the model knows
            "verified": None,  # the hash of the bytes verification accepted
            "swept": False,
            **extra,
        }
        self.assets[session.id] = "staged"
        return str(session.id)

    def _pick(self, data: st.DataObject, kind: str | None = None) -> str:
        # Creation order, not the ids' (random) order: replays must draw alike.
        ids = [sid for sid, m in self.model.items() if kind in (None, m["kind"])]
        return data.draw(st.sampled_from(ids))

    def _url_alive(self, m: dict[str, Any]) -> bool:
        """A URL never outlives its session (the receiver's clock is not the model's)."""
        return bool(self.now < m["expires_at"])

    # -- single PUT over HTTP --------------------------------------------------------

    @precondition(_room("put"))
    @rule()
    def initiate(self) -> None:
        session = self.broker.initiate_session("images", filename="p.png", content_type="image/png")
        self._new(session, "put", url=None)

    @precondition(_room("put"))
    @rule(content=st.sampled_from(sorted(CONTENTS)), again=st.sampled_from([None, *CONTENTS]))
    def a_whole_upload(self, content: str, again: str | None) -> None:
        """Initiate, sign, PUT and verify in one step (so later steps start deep).

        *again*: the client then reuses its URL (still valid) to replace the object.
        """
        self.initiate()
        session_id = _ids(self, "put")[-1]
        self._sign(session_id)
        self._put(session_id, content)
        self._verify(session_id)
        if again is not None:
            self._put(session_id, again)

    @precondition(_any("put"))
    @rule(data=st.data())
    def sign(self, data: st.DataObject) -> None:
        self._sign(self._pick(data, "put"))

    def _sign(self, session_id: str) -> None:
        m = self.model[session_id]
        if m["state"] in LIVE:
            result = self.broker.sign_url(session_id)
            m["state"], m["url"] = "signed", result.presigned
        else:
            with pytest.raises(InvalidTransition):
                self.broker.sign_url(session_id)

    @precondition(_any("put"))
    @rule(data=st.data(), content=st.sampled_from(sorted(CONTENTS)))
    def put(self, data: st.DataObject, content: str) -> None:
        """A client PUT with the last URL issued, whatever the session's state."""
        self._put(self._pick(data, "put"), content)

    def _put(self, session_id: str, content: str) -> None:
        m = self.model[session_id]
        if m["url"] is None or not self._url_alive(m):
            return  # no URL, or one a real backend would refuse as expired
        body = CONTENTS[content]
        if m["stored"] is not None:
            # Completed, verified or merely uploaded: create-only refuses a replacement.
            with pytest.raises(TransferFailed) as info:
                self.client.put_bytes(m["url"], body)
            assert info.value.status in (409, 412), info.value
            event(f"PUT refused: object exists, session {m['state']}")
            return
        self.client.put_bytes(m["url"], body)
        event(f"PUT stored, session {m['state']}")
        m["stored"] = body  # for an aborted session: an orphan the final sweep must remove

    @precondition(_any("put"))
    @rule(data=st.data())
    def verify(self, data: st.DataObject) -> None:
        self._verify(self._pick(data, "put"))

    def _verify(self, session_id: str) -> None:
        m = self.model[session_id]
        if m["state"] == "completed":
            assert self.broker.verify_completion(session_id).session.state.value == "completed"
        elif m["state"] != "signed":
            with pytest.raises(InvalidTransition):
                self.broker.verify_completion(session_id)
        elif m["stored"] is None:
            with pytest.raises(StorageObjectMissing):
                self.broker.verify_completion(session_id)
        else:
            result = self.broker.verify_completion(session_id)
            assert result.asset.state.value == "validating"
            m["state"], m["verified"] = "completed", sha(m["stored"])
            self.assets[session_id] = "validating"

    # -- multipart (memory adapter) ----------------------------------------------------

    @precondition(_room("multipart"))
    @rule()
    def initiate_multipart(self) -> None:
        started = self.broker.initiate_multipart_session(
            "big",
            filename="big.bin",
            content_type="application/octet-stream",
            size=len(BIG),
            part_size=PART_SIZE,
        )
        assert started.multipart.part_count == 3
        self._new(started.session, "multipart", upload_id=started.multipart.upload_id, parts={})

    @precondition(_room("multipart"))
    @rule(
        uploaded=st.sets(st.sampled_from([1, 2, 3]), min_size=1),
        sent=st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=3, unique=True),
    )
    def a_whole_multipart(self, uploaded: set[int], sent: list[int]) -> None:
        """Initiate, sign, upload some parts and complete with some (maybe not all)."""
        self.initiate_multipart()
        session_id = _ids(self, "multipart")[-1]
        self._sign_parts(session_id)
        self._upload_parts(session_id, uploaded)
        self._complete(session_id, sent)
        self._upload_parts(session_id, {3})  # a retry, or a stale URL once completed

    @precondition(_any("multipart"))
    @rule(data=st.data())
    def sign_parts(self, data: st.DataObject) -> None:
        self._sign_parts(self._pick(data, "multipart"))

    def _sign_parts(self, session_id: str) -> None:
        m = self.model[session_id]
        if m["state"] in LIVE:
            result = self.broker.sign_multipart_parts(session_id, [1, 2, 3])
            assert [p.part_number for p in result.parts] == [1, 2, 3]
            m["state"] = "signed"
        else:
            with pytest.raises(InvalidTransition):
                self.broker.sign_multipart_parts(session_id, [1, 2, 3])

    @precondition(_any("multipart"))
    @rule(data=st.data(), numbers=st.sets(st.sampled_from([1, 2, 3]), min_size=1))
    def upload_parts(self, data: st.DataObject, numbers: set[int]) -> None:
        """Part PUTs, also with stale URLs after completion or abort."""
        self._upload_parts(self._pick(data, "multipart"), numbers)

    def _upload_parts(self, session_id: str, numbers: set[int]) -> None:
        m = self.model[session_id]
        if m["state"] == "initialized" or not self._url_alive(m):
            return  # no part URL yet, or only expired ones
        for number in sorted(numbers):
            if m["state"] != "signed":
                with pytest.raises(ClientRefused) as info:  # the remote upload is gone
                    self.memory.client_put_part(m["upload_id"], number, PARTS[number])
                assert info.value.status == 404
                event(f"part PUT refused: upload gone, session {m['state']}")
                continue
            self.memory.client_put_part(m["upload_id"], number, PARTS[number])
            m["parts"][number] = PARTS[number]

    @precondition(_any("multipart"))
    @rule(
        data=st.data(),
        sent=st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=3, unique=True),
    )
    def complete(self, data: st.DataObject, sent: list[int]) -> None:
        self._complete(self._pick(data, "multipart"), sent)

    def _complete(self, session_id: str, sent: list[int]) -> None:
        m = self.model[session_id]
        parts = [UploadedPart(n, etag_of(PARTS[n])) for n in sent]
        if m["state"] == "completed":
            result = self.broker.complete_multipart_upload(session_id, parts)
            assert result.session.state.value == "completed"
            return
        if m["state"] != "signed":
            with pytest.raises(InvalidTransition):
                self.broker.complete_multipart_upload(session_id, parts)
            return
        missing = tuple(n for n in (1, 2, 3) if n not in sent)
        if missing or any(n not in m["parts"] for n in sent):
            with pytest.raises(InvalidParts) as info:
                self.broker.complete_multipart_upload(session_id, parts)
            if missing:
                assert info.value.missing == missing
            assert m["key"] not in self.memory.objects  # nothing completed remotely
            event("complete refused: " + ("parts missing" if missing else "part not uploaded"))
            return
        result = self.broker.complete_multipart_upload(session_id, parts)
        assert result.asset.state.value == "validating"
        event("complete accepted")
        assembled = b"".join(m["parts"][n] for n in sorted(sent))
        m["state"], m["stored"], m["verified"] = "completed", assembled, sha(assembled)
        self.assets[session_id] = "validating"

    # -- both kinds ---------------------------------------------------------------------

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def abort(self, data: st.DataObject) -> None:
        self._abort(self._pick(data))

    @precondition(_room("put"))
    @rule(content=st.sampled_from(sorted(CONTENTS)), early=st.booleans(), wait=st.booleans())
    def late_put_after_abort(self, content: str, early: bool, wait: bool) -> None:
        """Sign, abort, then PUT with the URL issued before (*early*: one PUT before the abort).

        The late PUT stores an orphan; once the session's deadline and the
        grace are past (*wait*), maintenance's final sweep must remove it.
        """
        self.initiate()
        session_id = _ids(self, "put")[-1]
        self._sign(session_id)
        if early:
            self._put(session_id, "png")
        self._abort(session_id)
        self._put(session_id, content)
        if wait:
            self.time_passes_and_maintenance_runs(2)

    def _abort(self, session_id: str) -> None:
        m = self.model[session_id]
        if m["state"] in (*LIVE, "aborted"):
            assert self.broker.abort_session(session_id).state.value == "aborted"
            if m["state"] != "aborted":
                m["state"], m["stored"] = "aborted", None  # the stray object is deleted
                self.assets[session_id] = "abandoned"
        else:
            with pytest.raises(InvalidTransition):
                self.broker.abort_session(session_id)

    @rule(hours=st.sampled_from([0.5, 2]))
    def time_passes_and_maintenance_runs(self, hours: float) -> None:
        self.now += dt.timedelta(hours=hours)
        report = self.broker.expire_sessions()
        expected = {
            sid
            for sid, m in self.model.items()
            if m["state"] in LIVE and m["expires_at"] <= self.now
        }
        assert set(report.expired_session_ids) == expected
        assert report.cleanup_failures == 0
        for sid, m in self.model.items():
            if sid in expected:
                m["state"], m["stored"] = "expired", None
                self.assets[sid] = "abandoned"
            if m["state"] in ("aborted", "expired") and self.now >= m["expires_at"] + self.grace:
                if m["stored"] is not None and not m["swept"]:
                    event("final sweep removed a late PUT")
                m["stored"], m["swept"] = None, True  # the final sweep ran

    @precondition(lambda self: any(m["state"] in LIVE for m in self.model.values()))
    @rule(data=st.data())
    def sign_after_deadline_is_refused(self, data: st.DataObject) -> None:
        session_id = self._pick(data)
        m = self.model[session_id]
        if m["state"] in LIVE:
            saved = self.now
            self.now = m["expires_at"] + dt.timedelta(seconds=1)
            if m["kind"] == "put":
                with pytest.raises(SessionExpired):
                    self.broker.sign_url(session_id)
            else:
                with pytest.raises(SessionExpired):
                    self.broker.sign_multipart_part(session_id, 1)
            self.now = saved

    @precondition(lambda self: any(m["state"] == "signed" for m in self.model.values()))
    @rule(data=st.data())
    def verify_after_deadline_is_refused(self, data: st.DataObject) -> None:
        session_id = self._pick(data)
        m = self.model[session_id]
        if m["state"] == "signed":
            saved = self.now
            self.now = m["expires_at"] + dt.timedelta(seconds=1)
            verify = (
                self.broker.verify_completion
                if m["kind"] == "put"
                else self.broker.complete_multipart_upload
            )
            with pytest.raises(SessionExpired):
                verify(session_id)
            self.now = saved

    @precondition(lambda self: "validating" in self.assets.values())
    @rule()
    def run_jobs(self) -> None:
        self.broker.run_jobs()
        for sid, state in self.assets.items():
            if state == "validating":
                m = self.model[sid]
                fine = m["kind"] == "multipart" or m["stored"] == PNG
                self.assets[sid] = "available" if fine else "quarantined"

    # -- invariants (one database read per table and step: they run after every rule) --

    def _snapshot(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[int]]]:
        with self.broker.database.read() as conn:
            sessions = {r.id: r for r in conn.execute(sa.select(SessionRow.__table__))}
            assets = {r.id: asset_from_row(r) for r in conn.execute(sa.select(AssetRow.__table__))}
            parts: dict[str, list[int]] = {}
            for r in conn.execute(sa.select(PartRow.__table__).order_by("part_number")):
                parts.setdefault(r.session_id, []).append(r.part_number)
        return sessions, assets, parts

    def _stored(self, m: dict[str, Any]) -> bytes | None:
        if m["kind"] == "multipart":
            held = self.memory.objects.get(m["key"])
            return None if held is None else held[0]
        try:
            size = self.local.head(m["key"]).size
        except StorageNotFound:
            return None
        return self.local.read_range(m["key"], 0, size)

    @invariant()
    def database_and_storage_agree_with_the_model(self) -> None:
        sessions, assets, parts = self._snapshot()
        for sid, m in self.model.items():
            row = sessions[sid]
            asset = assets[row.asset_id]
            assert row.state == m["state"], sid
            assert asset.state.value == self.assets[sid], sid
            # An object exists exactly where one was stored and not cleaned up:
            data = self._stored(m)
            assert data == m["stored"], (sid, m["state"], m["swept"])
            if m["kind"] == "multipart":  # only a completed session has part rows
                assert parts.get(sid, []) == ([1, 2, 3] if m["state"] == "completed" else []), sid
            if asset.state is AssetState.AVAILABLE:
                # The bytes and the type that were verified, at the version recorded:
                storage = self.memory if m["kind"] == "multipart" else self.local
                head = storage.head(asset.storage_key)
                assert data is not None and sha(data) == m["verified"], sid
                assert head.content_type == asset.declared_content_type, sid
                assert head.version == asset.stored_version, sid
                event(f"checked an available {m['kind']} asset's bytes")


TestBrokerModel = BrokerModel.TestCase
TestBrokerModel.settings = settings(
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
