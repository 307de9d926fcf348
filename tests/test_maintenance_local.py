"""End to end on the local backend: a real HTTP PUT after abort is removed by the final sweep."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from rindle_core import Broker, Database, Profile, SessionState, StorageNotFound, TransferFailed
from rindle_core.client import UploadClient
from rindle_core.db import SessionRow
from rindle_core.local import LocalStorage, ReceiverServer, serve_receiver
from rindle_core.plugins import make_plugin_manager

SECRET = secrets.token_bytes(32)
DATA = b"stored after the abort"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ReceiverServer]:
    with serve_receiver(tmp_path / "objects", SECRET) as srv:
        yield srv


@pytest.fixture
def storage(tmp_path: Path, server: ReceiverServer) -> LocalStorage:
    return LocalStorage(tmp_path / "objects", base_url=server.url, secret=SECRET)


@pytest.fixture
def client() -> Iterator[UploadClient]:
    with UploadClient(timeout=10) as c:
        yield c


def remote_cleanup(db: Database, session_id: str) -> str | None:
    table = SessionRow.__table__
    with db.read() as conn:
        value: str | None = conn.execute(
            sa.select(table.c.remote_cleanup).where(table.c.id == session_id)
        ).scalar_one()
    return value


def test_a_put_after_abort_is_removed_once_the_url_expired(
    any_db: Database, storage: LocalStorage, client: UploadClient
) -> None:
    broker = Broker(
        any_db,
        profiles=[Profile(name="docs", storage="files")],
        storages={"files": storage},
        plugin_manager=make_plugin_manager(load_entrypoints=False),
    )
    session = broker.initiate_session(
        "docs", filename="late.txt", content_type="text/plain", size=len(DATA), expires_in=3
    )
    url = broker.sign_url(session.id).presigned
    assert url.expires_at is not None and url.expires_at <= session.expires_at
    assert broker.abort_session(session.id).state is SessionState.ABORTED

    # The URL outlives the abort: a client still stores an object through it.
    assert client.put_bytes(url, DATA).status_code == 200
    assert storage.head(session.storage_key).size == len(DATA)

    # Maintenance now cannot know the URL is done with: the object stays, the
    # row stays pending for the final sweep.
    now = broker.expire_sessions()
    assert (now.objects_deleted, now.cleanups_finished) == (0, 0)
    assert remote_cleanup(any_db, session.id) == "pending"

    grace = broker.maintenance.cleanup_grace
    final = broker.expire_sessions(now=session.expires_at + grace)
    assert (final.objects_deleted, final.cleanups_finished, final.cleanup_failures) == (1, 1, 0)
    with pytest.raises(StorageNotFound):
        storage.head(session.storage_key)
    assert remote_cleanup(any_db, session.id) == "done"

    # What made the sweep final: once expired, the URL stores nothing.
    wait = (url.expires_at - dt.datetime.now(dt.UTC)).total_seconds() + 1.1
    time.sleep(max(0.0, wait))
    with pytest.raises(TransferFailed) as refused:
        client.put_bytes(url, DATA)
    assert refused.value.status == 403
    with pytest.raises(StorageNotFound):
        storage.head(session.storage_key)
