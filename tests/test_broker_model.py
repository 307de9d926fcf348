"""A Hypothesis state machine over the broker, against a model, on the local backend.

Real HTTP uploads go to the local receiver on 127.0.0.1; the model predicts
every session's and asset's state after each step, including the errors.
"""

from __future__ import annotations

import datetime as dt
import secrets
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from fakes import PNG
from rindle_core import (
    Broker,
    Database,
    InvalidTransition,
    Profile,
    SessionExpired,
    StorageObjectMissing,
)
from rindle_core.client import UploadClient
from rindle_core.local import LocalStorage, serve_receiver
from rindle_core.plugins import make_plugin_manager

ROOT = Path(tempfile.mkdtemp(prefix="rindle-model-"))
SECRET = secrets.token_bytes(32)
SERVER = serve_receiver(ROOT / "objects", SECRET)
CONTENTS = {"png": PNG, "text": b"not a picture, just words"}
TERMINAL = {"completed", "aborted", "expired", "failed"}


class BrokerModel(RuleBasedStateMachine):
    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        self.now = dt.datetime.now(dt.UTC)
        db = Database(f"sqlite:///{ROOT / (secrets.token_hex(6) + '.db')}")
        db.create_all()
        storage = LocalStorage(ROOT / "objects", base_url=SERVER.url, secret=SECRET)
        self.broker = Broker(
            db,
            profiles=[
                Profile(name="images", storage="files", allow_mime=["image/png"], session_ttl=3600)
            ],
            storages={"files": storage},
            plugin_manager=make_plugin_manager(load_entrypoints=False),
            job_mode="worker",
            clock=lambda: self.now,
        )
        self.client = UploadClient(timeout=10)
        self.model: dict[str, dict[str, Any]] = {}
        self.assets: dict[str, str] = {}  # session id -> expected asset state

    def teardown(self) -> None:
        self.client.close()
        self.broker.database.dispose()

    @rule(target=sessions)
    def initiate(self) -> str:
        session = self.broker.initiate_session("images", filename="p.png", content_type="image/png")
        self.model[session.id] = {"state": "initialized", "uploaded": None, "url": None}
        self.assets[session.id] = "staged"
        return session.id

    @rule(session_id=sessions)
    def sign(self, session_id: str) -> None:
        m = self.model[session_id]
        if m["state"] in ("initialized", "signed"):
            result = self.broker.sign_url(session_id)
            m["state"], m["url"] = "signed", result.presigned
        else:
            with pytest.raises(InvalidTransition):
                self.broker.sign_url(session_id)

    @rule(session_id=sessions, content=st.sampled_from(sorted(CONTENTS)))
    def upload(self, session_id: str, content: str) -> None:
        m = self.model[session_id]
        if m["url"] is None or m["state"] != "signed":
            return  # a client cannot upload without a live URL
        self.client.put_bytes(m["url"], CONTENTS[content])
        m["uploaded"] = content

    @rule(session_id=sessions)
    def verify(self, session_id: str) -> None:
        m = self.model[session_id]
        if m["state"] == "completed":
            assert self.broker.verify_completion(session_id).session.state.value == "completed"
        elif m["state"] != "signed":
            with pytest.raises(InvalidTransition):
                self.broker.verify_completion(session_id)
        elif m["uploaded"] is None:
            with pytest.raises(StorageObjectMissing):
                self.broker.verify_completion(session_id)
        else:
            result = self.broker.verify_completion(session_id)
            assert result.asset.state.value == "validating"
            m["state"] = "completed"
            self.assets[session_id] = "validating"

    @rule(session_id=sessions)
    def abort(self, session_id: str) -> None:
        m = self.model[session_id]
        if m["state"] in ("initialized", "signed", "aborted"):
            assert self.broker.abort_session(session_id).state.value == "aborted"
            m["state"] = "aborted"
            self.assets[session_id] = "abandoned"
        else:
            with pytest.raises(InvalidTransition):
                self.broker.abort_session(session_id)

    @rule()
    def time_passes_and_maintenance_runs(self) -> None:
        self.now += dt.timedelta(hours=2)
        report = self.broker.expire_sessions()
        expected = {sid for sid, m in self.model.items() if m["state"] in ("initialized", "signed")}
        assert set(report.expired_session_ids) == expected
        for sid in expected:
            self.model[sid]["state"] = "expired"
            self.assets[sid] = "abandoned"

    @rule(session_id=sessions)
    def sign_after_deadline_is_refused(self, session_id: str) -> None:
        m = self.model[session_id]
        if m["state"] in ("initialized", "signed"):
            saved = self.now
            self.now += dt.timedelta(hours=2)
            with pytest.raises(SessionExpired):
                self.broker.sign_url(session_id)
            self.now = saved

    @rule(session_id=sessions)
    def verify_after_deadline_is_refused(self, session_id: str) -> None:
        m = self.model[session_id]
        if m["state"] == "signed":
            saved = self.now
            self.now += dt.timedelta(hours=2)
            with pytest.raises(SessionExpired):
                self.broker.verify_completion(session_id)
            self.now = saved

    @rule()
    def run_jobs(self) -> None:
        self.broker.run_jobs()
        for sid, state in self.assets.items():
            if state == "validating":
                content = self.model[sid]["uploaded"]
                self.assets[sid] = "available" if content == "png" else "quarantined"

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        for sid, m in self.model.items():
            session = self.broker.get_session(sid)
            assert session.state.value == m["state"], sid
            assert self.broker.get_asset(session.asset_id).state.value == self.assets[sid]


TestBrokerModel = BrokerModel.TestCase
TestBrokerModel.settings = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
