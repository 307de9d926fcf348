"""``rindle sessions list|show`` and ``rindle assets show``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from fakes import MemoryStorage
from rindle_core import Broker, Profile
from rindle_core.config import embedded_config
from rindle_core.plugins import make_plugin_manager

Run = Callable[..., Result]


@pytest.fixture
def broker(tmp_path: Path) -> Broker:
    """A broker on the embedded default's database (which the CLI then reads).

    Its ``memory`` storage offers every capability, so sessions of all three
    strategies exist; reading them needs no storage at all.
    """
    config = embedded_config(tmp_path / ".rindle")
    database = config.open_database()
    return Broker(
        database,
        profiles=[Profile(name="default", storage="mem"), Profile(name="docs", storage="mem")],
        storages={"mem": MemoryStorage()},
        plugin_manager=make_plugin_manager(load_entrypoints=False),
        job_mode="inline",
    )


def test_list_filters_and_json(run: Run, broker: Broker) -> None:
    first = broker.initiate_session("default", filename="a.txt", content_type="text/plain", size=3)
    second = broker.initiate_session("docs", filename="b.pdf", content_type="application/pdf")
    broker.sign_url(second.id)
    listed = json.loads(run("sessions", "list", "--json").stdout)["sessions"]
    assert {s["id"] for s in listed} == {first.id, second.id}
    by_state = json.loads(run("sessions", "list", "--state", "signed", "--json").stdout)
    assert [s["id"] for s in by_state["sessions"]] == [second.id]
    by_profile = json.loads(run("sessions", "list", "--profile", "default", "--json").stdout)
    assert [s["id"] for s in by_profile["sessions"]] == [first.id]
    limited = json.loads(run("sessions", "list", "--limit", "1", "--json").stdout)
    assert len(limited["sessions"]) == 1
    human = run("sessions", "list").stdout
    assert first.id in human and second.id in human
    assert "initialized" in human and "signed" in human


def test_list_filters_by_owner(run: Run, broker: Broker) -> None:
    mine = broker.initiate_session(
        "default", filename="a.txt", content_type="text/plain", owner="user-7"
    )
    broker.initiate_session("default", filename="b.txt", content_type="text/plain", owner="user-8")
    listed = json.loads(run("sessions", "list", "--owner", "user-7", "--json").stdout)
    assert [(s["id"], s["owner"]) for s in listed["sessions"]] == [(mine.id, "user-7")]


def test_list_when_empty(run: Run, broker: Broker) -> None:
    assert run("sessions", "list").stdout == "no sessions\n"


def test_list_refuses_an_unknown_state(run: Run) -> None:
    result = run("sessions", "list", "--state", "sleeping", code=2)
    assert "'sleeping' is not one of" in result.stderr


def test_show_a_session(run: Run, broker: Broker) -> None:
    session = broker.initiate_session("docs", filename="a.pdf", content_type="application/pdf")
    data = json.loads(run("sessions", "show", session.id, "--json").stdout)["session"]
    assert data["id"] == session.id
    assert data["state"] == "initialized"
    assert data["upload_strategy"] == "presigned_put"
    assert data["asset_id"] == session.asset_id
    human = run("sessions", "show", session.id).stdout
    assert session.id in human
    assert "presigned_put" in human


def test_show_never_reveals_the_resumable_session_uri(run: Run, broker: Broker) -> None:
    result = broker.initiate_resumable_session(
        "docs", filename="v.pdf", content_type="application/pdf", size=10
    )
    uri = result.resumable.session_uri
    assert broker.get_session(result.session.id).session_uri == uri  # stored, a bearer secret
    for args in (["--json"], []):
        shown = run("sessions", "show", result.session.id, *args)
        assert uri not in shown.output
        listed = run("sessions", "list", *args)
        assert uri not in listed.output
    data = json.loads(run("sessions", "show", result.session.id, "--json").stdout)["session"]
    assert "session_uri" not in data
    assert data["upload_strategy"] == "resumable"


def test_show_an_asset(run: Run, broker: Broker) -> None:
    session = broker.initiate_session("docs", filename="a.pdf", content_type="application/pdf")
    data = json.loads(run("assets", "show", session.asset_id, "--json").stdout)["asset"]
    assert data["id"] == session.asset_id
    assert data["state"] == "staged"
    assert data["declared_content_type"] == "application/pdf"
    assert "staged" in run("assets", "show", session.asset_id).stdout


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["sessions", "show", "nope"], "error: InvalidArgument: malformed session id: 'nope'"),
        (
            ["sessions", "show", "0" * 32],
            f"error: SessionNotFound: upload session '{'0' * 32}' not found",
        ),
        (["assets", "show", "../etc"], "error: InvalidArgument: malformed asset id: '../etc'"),
        (["assets", "show", "f" * 32], f"error: AssetNotFound: asset '{'f' * 32}' not found"),
    ],
)
def test_bad_and_unknown_ids_fail_on_one_line(
    run: Run, broker: Broker, args: list[str], line: str
) -> None:
    for extra in ([], ["--json"]):
        result = run(*args, *extra, code=1)
        named, error = result.stderr.split("\n", 1)
        assert named.startswith("database: ")  # ADR 0091
        assert error == line + "\n"
        assert result.stdout == ""
