"""Observers go through pluggy's own hook calling, each implementation isolated.

Wrappers (new and old style) and ``pm.add_hookcall_monitoring`` see every
observer call; a raising observer neither stops the next one nor the
broker, and its failure is logged on the ``rindle.telemetry`` logger. The
operation hooks report each broker call and job run the same way.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Generator
from typing import Any

import pluggy
import pytest

from fakes import PNG, MemoryStorage
from rindle_core import Broker, hookimpl
from rindle_core._isolation import is_isolated, isolate
from rindle_core.observability import Operation

OBSERVER_HOOKS = (
    "rindle_session_transitioned",
    "rindle_asset_transitioned",
    "rindle_upload_started",
    "rindle_upload_stopped",
    "rindle_maintenance_run",
)


class Recorder:
    """Records every observer call, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.hooks: list[str] = []

    @hookimpl
    def rindle_session_transitioned(self, session: Any, from_state: str, to_state: str) -> None:
        self.hooks.append("rindle_session_transitioned")
        self.calls.append(f"session {from_state}->{to_state}")

    @hookimpl
    def rindle_asset_transitioned(self, asset: Any, from_state: str, to_state: str) -> None:
        self.hooks.append("rindle_asset_transitioned")
        self.calls.append(f"asset {from_state}->{to_state}")

    @hookimpl
    def rindle_upload_started(self, session: Any) -> None:
        self.hooks.append("rindle_upload_started")
        self.calls.append("upload started")

    @hookimpl
    def rindle_upload_stopped(self, session: Any, asset: Any) -> None:
        self.hooks.append("rindle_upload_stopped")
        self.calls.append("upload stopped")

    @hookimpl
    def rindle_maintenance_run(self, report: Any) -> None:
        self.hooks.append("rindle_maintenance_run")
        self.calls.append("maintenance")


class Broken:
    """Raises from every observer hook."""

    @hookimpl
    def rindle_session_transitioned(self, session: Any, from_state: str, to_state: str) -> None:
        raise RuntimeError("observer bug")

    @hookimpl
    def rindle_upload_started(self, session: Any) -> None:
        raise ValueError("observer bug")


class Wrapper:
    """A new-style wrapper around every observer hook: sees each call and its end."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def _wrap(self, name: str) -> Generator[None, object, object]:
        self.seen.append(name)
        return (yield)

    @hookimpl(wrapper=True)
    def rindle_session_transitioned(
        self, session: Any, from_state: str, to_state: str
    ) -> Generator[None, object, object]:
        return (yield from self._wrap("rindle_session_transitioned"))

    @hookimpl(wrapper=True)
    def rindle_asset_transitioned(
        self, asset: Any, from_state: str, to_state: str
    ) -> Generator[None, object, object]:
        return (yield from self._wrap("rindle_asset_transitioned"))

    @hookimpl(wrapper=True)
    def rindle_upload_started(self, session: Any) -> Generator[None, object, object]:
        return (yield from self._wrap("rindle_upload_started"))

    @hookimpl(wrapper=True)
    def rindle_upload_stopped(self, session: Any, asset: Any) -> Generator[None, object, object]:
        return (yield from self._wrap("rindle_upload_stopped"))

    @hookimpl(wrapper=True)
    def rindle_maintenance_run(self, report: Any) -> Generator[None, object, object]:
        return (yield from self._wrap("rindle_maintenance_run"))


class OldStyleWrapper:
    """An old-style ``hookwrapper`` on one hook: sees each call's result object."""

    def __init__(self) -> None:
        self.outcomes: list[object] = []

    @hookimpl(hookwrapper=True)
    def rindle_session_transitioned(
        self, session: Any, from_state: str, to_state: str
    ) -> Generator[None, pluggy.Result[object], None]:
        outcome = yield
        self.outcomes.append(outcome.exception)


def _lifecycle(broker: Broker, memory: MemoryStorage) -> None:
    """Upload, verify and promote (inline) one PNG; abandon and expire another."""
    session = broker.initiate_session(
        "images", filename="cat.png", content_type="image/png", size=len(PNG)
    )
    broker.sign_url(session.id)
    memory.client_put(session.storage_key, PNG, "image/png")
    broker.verify_completion(session.id)
    abandoned = broker.initiate_session("any", filename="b.txt", content_type="text/plain")
    broker.expire_sessions(now=abandoned.expires_at + dt.timedelta(days=2))


def _failures(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        dict(r.rindle_fields)  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "rindle_event", None) == "rindle.observer.failed"
    ]


def test_a_wrapper_sees_every_observer_call(
    make_broker: Callable[..., Broker], memory: MemoryStorage, pm: pluggy.PluginManager
) -> None:
    recorder, wrapper, old = Recorder(), Wrapper(), OldStyleWrapper()
    for plugin in (recorder, wrapper, old):
        pm.register(plugin)
    _lifecycle(make_broker(), memory)
    # One wrapper entry per observer call, hook by hook, in the same order.
    assert wrapper.seen == recorder.hooks
    assert set(wrapper.seen) == set(OBSERVER_HOOKS)
    sessions = sum(call.startswith("session ") for call in recorder.calls)
    assert len(old.outcomes) == sessions > 0
    assert old.outcomes == [None] * sessions


def test_hookcall_monitoring_sees_every_observer_call(
    make_broker: Callable[..., Broker], memory: MemoryStorage, pm: pluggy.PluginManager
) -> None:
    recorder = Recorder()
    pm.register(recorder)
    before: list[str] = []
    after: list[tuple[str, BaseException | None]] = []

    def on_before(name: str, impls: Any, kwargs: Any) -> None:
        if name in OBSERVER_HOOKS:
            before.append(name)

    def on_after(outcome: pluggy.Result[object], name: str, impls: Any, kwargs: Any) -> None:
        if name in OBSERVER_HOOKS:
            after.append((name, outcome.exception))

    undo = pm.add_hookcall_monitoring(on_before, on_after)
    try:
        _lifecycle(make_broker(), memory)
    finally:
        undo()
    assert before == recorder.hooks
    assert len(before) > 10
    assert [name for name, _ in after] == before
    assert all(exc is None for _, exc in after)
    assert set(before) == set(OBSERVER_HOOKS)


def test_a_raising_observer_stops_neither_the_next_one_nor_the_broker(
    make_broker: Callable[..., Broker],
    memory: MemoryStorage,
    pm: pluggy.PluginManager,
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet = Recorder()
    pm.register(quiet)
    # pluggy calls the last registered first: the broken one runs before the recorder.
    pm.register(Broken(), name="broken-observer")
    before: list[str] = []
    pm.add_hookcall_monitoring(lambda name, *_: before.append(name), lambda *_: None)
    with caplog.at_level(logging.INFO, logger="rindle"):
        _lifecycle(make_broker(), memory)
    assert "session verifying->completed" in quiet.calls
    assert "asset promoting->available" in quiet.calls
    assert quiet.calls.count("upload started") == 2
    failures = _failures(caplog)
    sessions = sum(call.startswith("session ") for call in quiet.calls)
    assert len(failures) == sessions + 2  # every transition, and both starts
    assert {(f["hook"], f["plugin"], f["error"]) for f in failures} == {
        ("rindle_session_transitioned", "broken-observer", "RuntimeError"),
        ("rindle_upload_started", "broken-observer", "ValueError"),
    }
    assert all(r.name == "rindle.telemetry" for r in caplog.records if "failed" in r.getMessage())
    assert "observer bug" not in caplog.text  # the class name, not the message
    assert before.count("rindle_session_transitioned") == sessions


def test_a_raising_wrapper_is_logged_and_does_not_reach_the_broker(
    make_broker: Callable[..., Broker],
    memory: MemoryStorage,
    pm: pluggy.PluginManager,
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BadWrapper:
        @hookimpl(wrapper=True)
        def rindle_upload_started(self, session: Any) -> Generator[None, object, object]:
            yield
            raise KeyError("wrapper bug")

    recorder = Recorder()
    pm.register(recorder)
    pm.register(BadWrapper())
    with caplog.at_level(logging.WARNING, logger="rindle"):
        _lifecycle(make_broker(), memory)
    assert recorder.calls.count("upload started") == 2  # the wrapped impl still ran
    assert [(f["hook"], f["error"]) for f in _failures(caplog)] == [
        ("rindle_upload_started", "KeyError")
    ] * 2


def test_an_observer_registered_later_is_isolated_too(
    make_broker: Callable[..., Broker],
    memory: MemoryStorage,
    pm: pluggy.PluginManager,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = make_broker()
    recorder = Recorder()
    pm.register(recorder)
    _lifecycle(broker, memory)  # the hooks' implementations are shielded by now
    pm.register(Broken())
    with caplog.at_level(logging.WARNING, logger="rindle"):
        _lifecycle(broker, memory)
    assert recorder.calls.count("upload started") == 4
    assert _failures(caplog)


def test_isolation_is_idempotent_and_leaves_wrappers_alone(pm: pluggy.PluginManager) -> None:
    pm.register(Recorder())
    wrapper = Wrapper()
    pm.register(wrapper)
    hook = pm.hook.rindle_upload_started
    errors: list[str] = []
    for _ in range(3):
        isolate(hook, lambda name, plugin, exc: errors.append(name))
    (plain,) = [impl for impl in hook.get_hookimpls() if not impl.wrapper]
    (wrapping,) = [impl for impl in hook.get_hookimpls() if impl.wrapper]
    assert is_isolated(plain.function)
    assert not is_isolated(plain.function.__wrapped__)  # one shield, not three
    assert not is_isolated(wrapping.function)
    hook(session=object())
    assert wrapper.seen == ["rindle_upload_started"]
    assert errors == []


# -- operations -------------------------------------------------------------------


class Operations:
    def __init__(self) -> None:
        self.started: list[Operation] = []
        self.finished: list[Operation] = []

    @hookimpl
    def rindle_operation_started(self, operation: Operation) -> None:
        assert operation.outcome is None
        self.started.append(operation)

    @hookimpl
    def rindle_operation_finished(self, operation: Operation) -> None:
        self.finished.append(operation)


def test_every_broker_operation_and_job_run_is_reported(
    make_broker: Callable[..., Broker], memory: MemoryStorage, pm: pluggy.PluginManager
) -> None:
    ops = Operations()
    pm.register(ops)
    broker = make_broker(job_mode="worker")
    session = broker.initiate_session(
        "images", filename="cat.png", content_type="image/png", size=len(PNG)
    )
    broker.sign_url(session.id)
    memory.client_put(session.storage_key, PNG, "image/png")
    broker.verify_completion(session.id)
    broker.run_jobs()
    names = [op.name for op in ops.finished]
    assert names == ["initiate_session", "sign_url", "verify_completion", "job.run", "run_jobs"]
    assert [op.name for op in ops.started] == [
        "initiate_session",
        "sign_url",
        "verify_completion",
        "run_jobs",
        "job.run",
    ]
    by_name = {op.name: op for op in ops.finished}
    assert ops.started[0] is by_name["initiate_session"]
    initiate = by_name["initiate_session"].attributes
    assert initiate["profile"] == "images"
    assert initiate["session_id"] == session.id
    assert initiate["session_state"] == "initialized"
    assert initiate["strategy"] == "presigned_put"
    verify = by_name["verify_completion"].attributes
    assert (verify["session_state"], verify["asset_state"]) == ("completed", "validating")
    job = by_name["job.run"]
    assert job.outcome == "succeeded"
    assert job.attributes["kind"] == "promote"
    assert job.attributes["asset_id"] == session.asset_id
    assert job.attributes["attempt"] == 1
    assert all(op.duration is not None and op.duration >= 0 for op in ops.finished)
    assert all(op.outcome in ("ok", "succeeded") for op in ops.finished)


def test_a_failed_operation_is_reported_with_its_error_class(
    broker: Broker, pm: pluggy.PluginManager
) -> None:
    from rindle_core import SessionNotFound
    from rindle_core._decisions import new_id

    ops = Operations()
    pm.register(ops)
    missing = new_id()
    with pytest.raises(SessionNotFound):
        broker.sign_url(missing)
    (op,) = ops.finished
    assert (op.name, op.outcome, op.error) == ("sign_url", "error", "SessionNotFound")
    assert op.attributes == {"session_id": missing}


def test_a_raising_operation_plugin_does_not_break_the_operation(
    broker: Broker, pm: pluggy.PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    class BadTracer:
        @hookimpl
        def rindle_operation_started(self, operation: Operation) -> None:
            raise RuntimeError("tracer bug")

    ops = Operations()
    pm.register(ops)
    pm.register(BadTracer())
    with caplog.at_level(logging.WARNING, logger="rindle"):
        session = broker.initiate_session("any", filename="a.txt", content_type="text/plain")
    assert session.state.value == "initialized"
    assert [op.name for op in ops.finished] == ["initiate_session"]
    assert [f["hook"] for f in _failures(caplog)] == ["rindle_operation_started"]
