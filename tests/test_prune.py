"""Pruning old session, part and job rows (issue 13, point 5, in part), on every database."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from maintenance_rows import T0, insert_sessions
from test_cli_ops import CONFIG, Run

from rindle_core import Broker, Database, InvalidArgument, StorageNotFound
from rindle_core.config import load_config
from rindle_core.db import jobs_table, parts_table, sessions_table
from rindle_core.local import LocalStorage

NOW = T0 + dt.timedelta(days=100)
OLD = T0  # 100 days before NOW
RECENT = NOW - dt.timedelta(days=2)


@pytest.fixture
def broker(make_broker: Callable[..., Broker], any_db: Database) -> Broker:
    return make_broker(database=any_db, clock=lambda: NOW)


def add_parts(db: Database, session_ids: list[str], each: int = 2) -> None:
    rows = [
        {"session_id": sid, "part_number": n, "etag": f'"{n}"', "size": 5}
        for sid in session_ids
        for n in range(1, each + 1)
    ]
    with db.transaction() as conn:
        conn.execute(sa.insert(parts_table), rows)


def add_jobs(db: Database, count: int, *, state: str, run_at: dt.datetime) -> list[str]:
    rows = [
        {
            "id": secrets.token_hex(16),
            "kind": "promote",
            "dedupe_key": f"promote:{secrets.token_hex(8)}",
            "payload": {},
            "state": state,
            "attempts": 1,
            "max_attempts": 5,
            "run_at": run_at,
            "created_at": run_at,
            "updated_at": run_at,
        }
        for _ in range(count)
    ]
    with db.transaction() as conn:
        conn.execute(sa.insert(jobs_table), rows)
    return [str(r["id"]) for r in rows]


def ids_in(db: Database, table: sa.Table) -> set[str]:
    key = table.c.session_id if table is parts_table else table.c.id
    with db.read() as conn:
        return {str(v) for v in conn.execute(sa.select(key)).scalars()}


def world(db: Database) -> dict[str, list[str]]:
    """Rows that must go and rows that must stay."""
    with db.transaction() as conn:
        rows = {
            "gone_completed": insert_sessions(
                conn, 3, state="completed", expires_at=OLD, asset_state="available"
            ),
            "gone_expired": insert_sessions(
                conn,
                2,
                state="expired",
                expires_at=OLD,
                remote_cleanup="done",
                asset_state="abandoned",
            ),
            "kept_recent": insert_sessions(
                conn, 2, state="completed", expires_at=RECENT, asset_state="available"
            ),
            "kept_live": insert_sessions(conn, 2, state="signed", expires_at=OLD),
            "kept_pending_cleanup": insert_sessions(
                conn,
                1,
                state="aborted",
                expires_at=OLD,
                remote_cleanup="pending",
                cleanup_at=OLD,
                asset_state="abandoned",
            ),
            "kept_asset_unsettled": insert_sessions(
                conn, 1, state="completed", expires_at=OLD, asset_state="promoting"
            ),
        }
    add_parts(db, rows["gone_completed"] + rows["kept_recent"])
    rows["gone_jobs"] = add_jobs(db, 4, state="succeeded", run_at=OLD)
    rows["kept_jobs"] = add_jobs(db, 1, state="failed", run_at=OLD) + add_jobs(
        db, 1, state="succeeded", run_at=RECENT
    )
    return rows


def test_prune_deletes_old_finished_rows_only(broker: Broker) -> None:
    db = broker.database
    rows = world(db)
    report = broker.prune(older_than=dt.timedelta(days=30), batch_size=2)
    gone = set(rows["gone_completed"] + rows["gone_expired"])
    kept = {sid for name, ids in rows.items() if name.startswith("kept_") for sid in ids}
    assert (report.sessions, report.parts, report.jobs) == (5, 6, 4)
    assert report.batches == 4  # 2 + 2 + 1 sessions and 2 + 2 jobs, then one that found none
    assert ids_in(db, sessions_table) & gone == set()
    assert kept - set(rows["kept_jobs"]) <= ids_in(db, sessions_table)
    assert ids_in(db, parts_table) == set(rows["kept_recent"])
    assert ids_in(db, jobs_table) == set(rows["kept_jobs"])
    again = broker.prune(older_than=dt.timedelta(days=30))
    assert (again.sessions, again.parts, again.jobs, again.batches) == (0, 0, 0, 1)


def test_a_dry_run_counts_and_deletes_nothing(broker: Broker) -> None:
    db = broker.database
    world(db)
    before = ids_in(db, sessions_table), ids_in(db, jobs_table)
    dry = broker.prune(older_than=dt.timedelta(days=30), dry_run=True)
    assert (dry.dry_run, dry.sessions, dry.parts, dry.jobs) == (True, 5, 6, 4)
    assert (ids_in(db, sessions_table), ids_in(db, jobs_table)) == before


def test_a_younger_age_reaches_more(broker: Broker) -> None:
    rows = world(broker.database)
    report = broker.prune(older_than=dt.timedelta(days=1))
    assert report.sessions == 5 + len(rows["kept_recent"])
    assert report.jobs == 5


@pytest.mark.parametrize(
    "arguments",
    [
        {"older_than": dt.timedelta(minutes=5)},
        {"older_than": 30},
        {"older_than": dt.timedelta(days=30), "batch_size": 0},
        {"older_than": dt.timedelta(days=30), "batch_size": True},
    ],
)
def test_bad_arguments_are_refused(broker: Broker, arguments: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        broker.prune(**arguments)  # type: ignore[arg-type]


# -- the command -------------------------------------------------------------------------


@pytest.fixture
def configured(tmp_path: Path, run: Run) -> Path:
    path = tmp_path / "rindle.toml"
    path.write_text(textwrap.dedent(CONFIG))
    run("db", "upgrade")
    return path


def test_rindle_prune(run: Run, configured: Path) -> None:
    database = load_config(configured, environ={}).open_database()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=60)
    try:
        with database.transaction() as conn:
            insert_sessions(
                conn, 3, state="completed", expires_at=old, asset_state="available",
                profile="docs", storage="files",
            )  # fmt: skip
        add_jobs(database, 2, state="succeeded", run_at=old)
    finally:
        database.dispose()
    assert "would delete 3 session(s), 0 part(s), 2 job(s)" in run("prune", "--dry-run").stdout
    assert run("prune", "--older-than", "90").stdout.startswith("deleted 0 session(s)")
    report = json.loads(run("prune", "--json").stdout)
    assert (report["sessions"], report["jobs"], report["dry_run"]) == (3, 2, False)
    run("prune", "--older-than", "0", code=2)  # refused by the option's range


def test_rindle_prune_sweeps_old_quarantined_and_abandoned_assets(
    run: Run, configured: Path
) -> None:
    database = load_config(configured, environ={}).open_database()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=60)
    storage = LocalStorage(configured.parent / "objects")
    try:
        with database.transaction() as conn:
            quarantined = insert_sessions(
                conn, 2, state="completed", expires_at=old, created_at=old,
                asset_state="quarantined", profile="docs", storage="files",
            )  # fmt: skip
            insert_sessions(
                conn, 1, state="expired", expires_at=old, created_at=old,
                remote_cleanup="done", asset_state="abandoned", profile="docs", storage="files",
            )  # fmt: skip
            keys = list(
                conn.execute(
                    sa.select(sessions_table.c.upload_key).where(
                        sessions_table.c.id.in_(quarantined)
                    )
                ).scalars()
            )
    finally:
        database.dispose()
    for key in keys:
        storage.write_bytes(key, b"bad", content_type="text/plain")
    result = run("prune", "--quarantined-after", "30", "--abandoned-after", "30", "--json")
    report = json.loads(result.stdout)
    assert report["assets"] == {
        "quarantined_deleted": 2,
        "abandoned_deleted": 1,
        "objects_deleted": 2,
        "object_failures": 0,
        "batches": 4,
    }
    assert report["sessions"] == 3  # their assets settled as deleted: the sessions go too
    for key in keys:
        with pytest.raises(StorageNotFound):
            storage.head(key)
    text = run("prune", "--quarantined-after", "30", "--abandoned-after", "30").stdout
    assert "deleted 0 quarantined and 0 abandoned asset(s), 0 object(s); 0 object(s) failed" in text
