"""``rindle expire``: drains in batches and reports the whole run."""

from __future__ import annotations

import datetime as dt
import json
import re
import textwrap
from pathlib import Path

import pytest
from test_cli_ops import CONFIG, Run, errors

from rindle_core import Broker, StorageUnavailable, UploadSession
from rindle_core.config import load_config
from rindle_core.local import LocalStorage
from rindle_core.plugins import make_plugin_manager


@pytest.fixture
def configured(tmp_path: Path, run: Run) -> Path:
    path = tmp_path / "rindle.toml"
    path.write_text(textwrap.dedent(CONFIG))
    run("db", "upgrade")
    return path


def old_sessions(config_path: Path, count: int, *, with_objects: bool = True) -> list[str]:
    """*count* signed sessions that expired days ago (oldest first), each with a stray object."""
    config = load_config(config_path, environ={})
    storage = LocalStorage(config_path.parent / "objects", base_url="http://127.0.0.1:1")
    ids = []
    for i in range(count):
        then = dt.datetime.now(dt.UTC) - dt.timedelta(days=3, minutes=count - i)
        broker = Broker(
            config.open_database(),
            profiles=config.profiles,
            storages={"files": storage},
            plugin_manager=make_plugin_manager(load_entrypoints=False),
            clock=lambda then=then: then,  # type: ignore[misc]
        )
        session: UploadSession = broker.initiate_session(
            "docs", filename=f"{i}.txt", content_type="text/plain", size=5
        )
        broker.sign_url(session.id)
        if with_objects:
            storage.write_bytes(session.storage_key, b"stray", content_type="text/plain")
        ids.append(session.id)
        broker.database.dispose()
    return ids


def test_expire_reports_the_whole_run(run: Run, configured: Path) -> None:
    ids = old_sessions(configured, 5)
    report = json.loads(run("expire", "--batch-size", "2", "--json").stdout)
    assert sorted(report["expired_session_ids"]) == sorted(ids)
    assert report["objects_deleted"] == 5
    assert report["cleanups_finished"] == 5
    assert report["cleanup_failures"] == 0
    assert report["cleanup_pending"] == 0
    assert report["batches"] >= 3
    assert not any((configured.parent / "objects").rglob("*.txt"))


def test_a_failure_in_an_early_batch_fails_the_run(
    run: Run, configured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, *rest = old_sessions(configured, 3)
    original = LocalStorage.delete
    broken_key = json.loads(run("sessions", "show", first, "--json").stdout)["session"][
        "storage_key"
    ]

    def delete(self: LocalStorage, key: str) -> None:
        if key == broken_key:
            raise StorageUnavailable("disk on fire")
        original(self, key)

    monkeypatch.setattr(LocalStorage, "delete", delete)
    result = run("expire", "--batch-size", "1", "--json", code=1)
    report = json.loads(result.stdout)
    assert sorted(report["expired_session_ids"]) == sorted([first, *rest])
    assert (report["cleanup_failures"], report["objects_deleted"]) == (1, 2)
    assert report["cleanup_pending"] == 1
    assert errors(result) == (
        "error: CleanupFailed: 1 remote cleanup(s) failed; they are retried on the next run\n"
    )


def test_expire_prints_a_summary(run: Run, configured: Path) -> None:
    ids = old_sessions(configured, 3)
    out = run("expire", "--batch-size", "2").stdout
    assert re.search(r"^expired 3 session\(s\) in [2-9] batch\(es\)$", out, re.MULTILINE)
    for session_id in ids:
        assert f"  {session_id}\n" in out
    assert "remote cleanup: 3 finished, 0 awaiting the final sweep, 0 failed" in out
    assert "effects: 0 remote upload(s) aborted, 3 object(s) deleted" in out
    assert "pending: 0 cleanup(s)" in out


def test_expire_dry_run_summary(run: Run, configured: Path) -> None:
    ids = old_sessions(configured, 2, with_objects=False)
    out = run("expire", "--dry-run").stdout
    assert "would expire 2 session(s)" in out
    assert all(session_id in out for session_id in ids)
    assert "cleanup(s) due now: 0 (pending in all: 0)" in out
    report = json.loads(run("expire", "--dry-run", "--json").stdout)
    assert (report["dry_run"], report["batches"], report["cleanup_due"]) == (True, 1, 0)


def test_expire_with_nothing_to_do(run: Run, configured: Path) -> None:
    report = json.loads(run("expire", "--json").stdout)
    assert report["expired_session_ids"] == []
    assert report["batches"] == 1
    assert "expired 0 session(s) in 1 batch(es)" in run("expire").stdout
