"""The broker contract's resumable-session flows: progress, resume, cancel, expiry.

Mixed into :class:`rindle_core.testing.BrokerContract` (each flow's ``self``
is a :class:`~rindle_core._broker_kit.BrokerSelf`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from rindle_core import AssetState, Broker, Database, DatabaseError, SessionState
from rindle_core._broker_kit import CONTENT_TYPE, BrokerSelf, assert_session_cancelled, pdf, stored
from rindle_core._broker_spy import Spy
from rindle_core._contract_helpers import fail_unless
from rindle_core.client import UploadClient
from rindle_core.storage import StorageAdapter

if TYPE_CHECKING:
    from rindle_core._broker_contract import BrokerContract

__all__ = ["ResumableChecks", "require_cancel"]


def require_cancel(contract: BrokerSelf) -> None:
    """Skip the test unless the server cancels resumable sessions."""
    if not contract.cancels_resumable_sessions:
        pytest.skip("this server does not cancel resumable sessions")


class ResumableChecks:
    """Resumable sessions: progress, resume after a restart, cancel and expiry."""

    def test_resumable_session_reports_progress_resumes_and_becomes_available(
        self: BrokerSelf,
        adapter: StorageAdapter,
        make_broker: BrokerContract.BrokerFactory,
        http_client: httpx.Client,
        upload_client: UploadClient,
        tmp_path: Path,
    ) -> None:
        storage = self.require_resumable(adapter)
        chunk = self.chunk_size
        data = pdf(2 * chunk + 4321)
        path = self.write(tmp_path, data)
        broker = make_broker()
        started = broker.initiate_resumable_session(
            "contract",
            filename="r.pdf",
            content_type=CONTENT_TYPE,
            size=len(data),
            origin="https://app.example",
        )
        sid, uri = started.session.id, started.resumable.session_uri
        fail_unless(
            started.session.state is SessionState.SIGNED, f"session {started.session.state}"
        )
        fail_unless(uri not in repr(started), "repr(ResumableResult) shows the session URI")

        first = http_client.put(
            uri,
            content=data[:chunk],
            headers={"Content-Range": f"bytes 0-{chunk - 1}/{len(data)}"},
        )
        fail_unless(first.status_code == 308, f"the first chunk got HTTP {first.status_code}")
        restarted = make_broker()
        status = restarted.resumable_session_status(sid).status
        fail_unless((status.state, status.committed_bytes) == ("in_progress", chunk), f"{status!r}")
        fail_unless(restarted.get_session(sid).committed_bytes == chunk, "progress not recorded")

        upload_client.upload_resumable(uri, path, chunk_size=chunk, resume=True)
        verified = restarted.verify_completion(sid)
        fail_unless(verified.session.state is SessionState.COMPLETED, f"{verified.session.state}")
        fail_unless(verified.session.session_uri is None, "a completed session keeps its URI")
        asset = restarted.get_asset(verified.asset.id)
        fail_unless(
            asset.state is AssetState.AVAILABLE, f"asset {asset.state}: {asset.quarantine_reason}"
        )
        fail_unless(asset.byte_size == len(data), f"asset byte_size {asset.byte_size}")
        fail_unless(stored(storage, asset.storage_key) == data, "storage holds other bytes")

    def test_cancel_cancels_the_remote_session(
        self: BrokerSelf, adapter: StorageAdapter, broker: Broker
    ) -> None:
        storage = self.require_resumable(adapter)
        require_cancel(self)
        started = broker.initiate_resumable_session(
            "contract", filename="c.pdf", content_type=CONTENT_TYPE, size=1000, origin=None
        )
        sid, uri = started.session.id, started.resumable.session_uri
        cancelled = broker.cancel_resumable_session(sid)
        fail_unless(cancelled.state is SessionState.ABORTED, f"session {cancelled.state}")
        fail_unless(cancelled.session_uri is None, "a cancelled session keeps its URI")
        assert_session_cancelled(storage, started.session.storage_key, uri)
        again = broker.cancel_resumable_session(sid)
        fail_unless(again.state is SessionState.ABORTED, "cancelling again failed")

    def test_expiry_cancels_the_remote_session(
        self: BrokerSelf, adapter: StorageAdapter, broker: Broker
    ) -> None:
        storage = self.require_resumable(adapter)
        require_cancel(self)
        started = broker.initiate_resumable_session(
            "contract", filename="e.pdf", content_type=CONTENT_TYPE, size=1000, origin=None
        )
        sid, uri = started.session.id, started.resumable.session_uri
        report = broker.expire_sessions(now=started.session.expires_at + dt.timedelta(seconds=1))
        fail_unless(report.expired_session_ids == (sid,), f"expired {report.expired_session_ids}")
        fail_unless(report.cleanup_failures == 0, f"{report.cleanup_failures} cleanups failed")
        expired = broker.get_session(sid)
        fail_unless(expired.state is SessionState.EXPIRED, f"session {expired.state}")
        fail_unless(expired.session_uri is None, "an expired session keeps its URI")
        assert_session_cancelled(storage, started.session.storage_key, uri)

    def test_a_failed_database_write_cancels_the_remote_session(
        self: BrokerSelf,
        adapter: StorageAdapter,
        make_broker: BrokerContract.BrokerFactory,
        tmp_path: Path,
    ) -> None:
        storage = self.require_resumable(adapter)
        spy = Spy(storage)
        tableless = Database("sqlite:///" + str(tmp_path / "no-tables.db"))
        try:
            with pytest.raises(DatabaseError) as failed:
                make_broker(spy, database=tableless).initiate_resumable_session(
                    "contract", filename="f.pdf", content_type=CONTENT_TYPE, size=10, origin=None
                )
        finally:
            tableless.close()
        fail_unless(len(spy.opened) == 1, f"{len(spy.opened)} remote sessions were created")
        fail_unless(spy.closed == spy.opened, "the remote session was not cancelled")
        key, uri = spy.opened[0]
        fail_unless(uri not in str(failed.value), "the error shows the session URI")
        if self.cancels_resumable_sessions:
            assert_session_cancelled(storage, key, uri)
