"""The broker contract's multipart flows: parts, completion, retries, limits, cleanup.

Mixed into :class:`rindle_core.testing.BrokerContract` (each flow's ``self``
is a :class:`~rindle_core._broker_kit.BrokerSelf`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

from rindle_core import (
    AssetState,
    Broker,
    Database,
    DatabaseError,
    InvalidArgument,
    InvalidParts,
    InvalidTransition,
    SessionState,
)
from rindle_core._broker_kit import (
    CONTENT_TYPE,
    SOME_TIME_LATER,
    BrokerSelf,
    assert_no_object,
    assert_upload_gone,
    pdf,
    stored,
)
from rindle_core._broker_spy import SimulatedCrash, Spy
from rindle_core._contract_helpers import fail_unless
from rindle_core.client import UploadClient
from rindle_core.storage import (
    PartChecksum,
    StorageAdapter,
    UploadedPart,
    supports_committed_parts,
)

if TYPE_CHECKING:
    from rindle_core._broker_contract import BrokerContract

__all__ = ["MultipartChecks"]


class MultipartChecks:
    """Multipart uploads: parallel and resumed parts, completion, retries, limits, cleanup."""

    def test_parts_in_parallel_and_out_of_order_become_available(
        self: BrokerSelf,
        adapter: StorageAdapter,
        broker: Broker,
        upload_client: UploadClient,
        clock: BrokerContract.Clock,
        tmp_path: Path,
    ) -> None:
        storage = self.require_multipart(adapter)
        part = self.part_size_for(storage)
        data = pdf(3 * part + 777)
        path = self.write(tmp_path, data)
        started = broker.initiate_multipart_session(
            "contract", filename="big.pdf", content_type=CONTENT_TYPE, size=len(data)
        )
        info = started.multipart
        fail_unless((info.part_size, info.part_count) == (part, 4), f"geometry {info!r}")
        fail_unless(info.storage_key == started.session.storage_key, "the upload has another key")
        sid = started.session.id
        parts = upload_client.upload_parts(
            path, part_size=part, sign=self.signer(broker, sid), concurrency=4, sign_batch=3
        )
        done = broker.complete_multipart_upload(sid, list(reversed(parts)))
        fail_unless(done.session.state is SessionState.COMPLETED, f"session {done.session.state}")
        asset = self.settle(broker, clock, done)
        fail_unless(
            asset.state is AssetState.AVAILABLE, f"asset {asset.state}: {asset.quarantine_reason}"
        )
        fail_unless(asset.byte_size == len(data), f"asset byte_size {asset.byte_size}")
        fail_unless(stored(storage, asset.storage_key) == data, "storage holds other bytes")
        fail_unless(storage.head(asset.storage_key).content_type == CONTENT_TYPE, "served type")
        assert_upload_gone(storage, info.storage_key or "", info.upload_id)

    def test_parts_sent_out_of_order_complete_without_a_part_list(
        self: BrokerSelf,
        adapter: StorageAdapter,
        broker: Broker,
        upload_client: UploadClient,
        clock: BrokerContract.Clock,
    ) -> None:
        storage = self.require_multipart(adapter)
        part = self.part_size_for(storage)
        data = pdf(2 * part + 10)
        started = broker.initiate_multipart_session(
            "contract", filename="c.pdf", content_type=CONTENT_TYPE, size=len(data)
        )
        sid = started.session.id
        for number in (3, 1, 2):
            request = broker.sign_multipart_part(sid, number).presigned
            upload_client.put_bytes(request, data[(number - 1) * part : number * part])
        done = broker.complete_multipart_upload(sid, None)  # the client lost its ETags
        asset = self.settle(broker, clock, done)
        fail_unless(
            asset.state is AssetState.AVAILABLE, f"asset {asset.state}: {asset.quarantine_reason}"
        )
        fail_unless(stored(storage, asset.storage_key) == data, "parts were joined out of order")

    def test_resume_after_a_restart_sends_only_the_missing_parts(
        self: BrokerSelf,
        adapter: StorageAdapter,
        make_broker: BrokerContract.BrokerFactory,
        upload_client: UploadClient,
        clock: BrokerContract.Clock,
        tmp_path: Path,
    ) -> None:
        storage = self.require_multipart(adapter)
        part = self.part_size_for(storage)
        data = pdf(3 * part + 99)
        path = self.write(tmp_path, data)
        first = make_broker()
        started = first.initiate_multipart_session(
            "contract", filename="r.pdf", content_type=CONTENT_TYPE, size=len(data)
        )
        sid = started.session.id
        upload_client.upload_parts(path, part_size=part, sign=self.signer(first, sid), skip={2, 4})

        restarted = make_broker()  # the client and the app kept only the session id
        status = restarted.multipart_status(sid)
        fail_unless([p.part_number for p in status.parts] == [1, 3], f"held parts {status.parts!r}")
        fail_unless(status.missing_part_numbers == (2, 4), f"missing {status.missing_part_numbers}")
        fail_unless(status.committed_bytes == 2 * part, f"committed {status.committed_bytes}")
        progress = restarted.resumable_session_status(sid).status
        fail_unless(
            (progress.state, progress.committed_bytes) == ("in_progress", 2 * part),
            f"progress {progress!r}",
        )
        sent: list[int] = []
        held = {p.part_number for p in status.parts}
        upload_client.upload_parts(
            path, part_size=part, sign=self.signer(restarted, sid, sent), skip=held
        )
        fail_unless(sorted(sent) == [2, 4], f"resuming signed parts {sorted(sent)}")
        fail_unless(
            restarted.multipart_status(sid).missing_part_numbers == (), "parts still missing"
        )

        done = restarted.complete_multipart_upload(sid, None)
        asset = self.settle(restarted, clock, done)
        fail_unless(
            asset.state is AssetState.AVAILABLE, f"asset {asset.state}: {asset.quarantine_reason}"
        )
        fail_unless(stored(storage, asset.storage_key) == data, "storage holds other bytes")

    def test_an_incomplete_part_list_is_refused(
        self: BrokerSelf,
        adapter: StorageAdapter,
        broker: Broker,
        upload_client: UploadClient,
        clock: BrokerContract.Clock,
        tmp_path: Path,
    ) -> None:
        storage = self.require_multipart(adapter)
        part = self.part_size_for(storage)
        data = pdf(2 * part)
        path = self.write(tmp_path, data)
        started = broker.initiate_multipart_session(
            "contract", filename="m.pdf", content_type=CONTENT_TYPE, size=len(data)
        )
        sid, key = started.session.id, started.session.storage_key
        (first,) = upload_client.upload_parts(
            path, part_size=part, sign=self.signer(broker, sid), skip={2}
        )
        with pytest.raises(InvalidParts):  # the list lacks part 2
            broker.complete_multipart_upload(sid, [first])
        never_sent = UploadedPart(2, '"0123456789abcdef0123456789abcdef"')
        with pytest.raises(InvalidParts):  # the list names a part storage never received
            broker.complete_multipart_upload(sid, [first, never_sent])
        state = broker.get_session(sid).state
        fail_unless(
            state not in (SessionState.COMPLETED, SessionState.VERIFYING), f"session {state}"
        )
        assert_no_object(storage, key)

        rest = upload_client.upload_parts(
            path, part_size=part, sign=self.signer(broker, sid), skip={1}
        )
        done = broker.complete_multipart_upload(sid, [first, *rest])
        asset = self.settle(broker, clock, done)
        fail_unless(
            asset.state is AssetState.AVAILABLE, f"asset {asset.state}: {asset.quarantine_reason}"
        )

    def test_completing_twice_returns_the_same_result(
        self: BrokerSelf,
        adapter: StorageAdapter,
        broker: Broker,
        upload_client: UploadClient,
        clock: BrokerContract.Clock,
        tmp_path: Path,
    ) -> None:
        storage = self.require_multipart(adapter)
        part = self.part_size_for(storage)
        path = self.write(tmp_path, pdf(part + 10))
        started = broker.initiate_multipart_session(
            "contract", filename="t.pdf", content_type=CONTENT_TYPE, size=part + 10
        )
        sid = started.session.id
        parts = upload_client.upload_parts(path, part_size=part, sign=self.signer(broker, sid))
        first = broker.complete_multipart_upload(sid, parts)
        again = broker.complete_multipart_upload(sid, parts)
        fail_unless(
            (again.session.id, again.asset.id) == (first.session.id, first.asset.id), "differ"
        )
        fail_unless(again.session.state is SessionState.COMPLETED, f"session {again.session.state}")
        asset = self.settle(broker, clock, first)
        fail_unless(
            asset.state is AssetState.AVAILABLE, f"asset {asset.state}: {asset.quarantine_reason}"
        )
        with pytest.raises(InvalidTransition):
            broker.sign_multipart_part(sid, 1)  # no part URL after completion

    @pytest.mark.parametrize("retry_with", ["same_parts", "no_part_list"])
    def test_completion_retried_after_a_crash_converges(
        self: BrokerSelf,
        adapter: StorageAdapter,
        make_broker: BrokerContract.BrokerFactory,
        upload_client: UploadClient,
        clock: BrokerContract.Clock,
        tmp_path: Path,
        retry_with: Literal["same_parts", "no_part_list"],
    ) -> None:
        """The remote completion succeeded, the process died before the database write."""
        storage = self.require_multipart(adapter)
        part = self.part_size_for(storage)
        data = pdf(2 * part + 5)
        path = self.write(tmp_path, data)
        crashing = make_broker(Spy(storage, crash_after_complete=True))
        started = crashing.initiate_multipart_session(
            "contract", filename="x.pdf", content_type=CONTENT_TYPE, size=len(data)
        )
        sid, key = started.session.id, started.session.storage_key
        parts = upload_client.upload_parts(path, part_size=part, sign=self.signer(crashing, sid))
        with pytest.raises(SimulatedCrash):
            crashing.complete_multipart_upload(sid, parts)
        fail_unless(crashing.get_session(sid).state is not SessionState.COMPLETED, "completed")
        fail_unless(storage.head(key).size == len(data), "the remote completion did not happen")

        restarted = make_broker()
        done = restarted.complete_multipart_upload(
            sid, parts if retry_with == "same_parts" else None
        )
        fail_unless(done.session.state is SessionState.COMPLETED, f"session {done.session.state}")
        asset = self.settle(restarted, clock, done)
        fail_unless(
            asset.state is AssetState.AVAILABLE, f"asset {asset.state}: {asset.quarantine_reason}"
        )
        fail_unless(stored(storage, key) == data, "storage holds other bytes")
        if retry_with == "same_parts" or supports_committed_parts(storage):
            ledger = [p.part_number for p in restarted.multipart_status(sid).parts]
            fail_unless(ledger == [1, 2, 3], f"the part ledger holds {ledger}")

    def test_part_numbers_outside_the_backend_limits_are_refused(
        self: BrokerSelf, adapter: StorageAdapter, broker: Broker
    ) -> None:
        storage = self.require_multipart(adapter)
        limit = storage.part_limits.max_parts
        started = broker.initiate_multipart_session(
            "contract", filename="n.pdf", content_type=CONTENT_TYPE, size=None
        )
        for number in (0, limit + 1):
            with pytest.raises(InvalidArgument):
                broker.sign_multipart_part(started.session.id, number)
        last = broker.sign_multipart_part(started.session.id, limit).presigned
        fail_unless(last.part_number == limit, f"part {limit} signed as {last.part_number}")

    def test_the_part_size_respects_the_backend_minimum(
        self: BrokerSelf, adapter: StorageAdapter, broker: Broker
    ) -> None:
        storage = self.require_multipart(adapter)
        minimum = storage.part_limits.min_part_size
        started = broker.initiate_multipart_session(
            "contract",
            filename="p.pdf",
            content_type=CONTENT_TYPE,
            size=2 * minimum + 1,
            part_size=1,
        )
        geometry = (started.multipart.part_size, started.multipart.part_count)
        fail_unless(
            geometry == (minimum, 3), f"1-byte parts asked, got (part_size, count) {geometry}"
        )

    def test_abort_removes_the_remote_upload(
        self: BrokerSelf, adapter: StorageAdapter, broker: Broker, upload_client: UploadClient
    ) -> None:
        storage = self.require_multipart(adapter)
        part = self.part_size_for(storage)
        started = broker.initiate_multipart_session(
            "contract", filename="a.pdf", content_type=CONTENT_TYPE, size=2 * part
        )
        sid, info = started.session.id, started.multipart
        upload_client.put_bytes(broker.sign_multipart_part(sid, 1).presigned, pdf(part))
        fail_unless(
            len(storage.list_parts(started.session.storage_key, info.upload_id)) == 1, "part"
        )

        fail_unless(broker.abort_session(sid).state is SessionState.ABORTED, "not aborted")
        assert_upload_gone(storage, started.session.storage_key, info.upload_id)
        assert_no_object(storage, started.session.storage_key)
        fail_unless(
            broker.abort_session(sid).state is SessionState.ABORTED, "aborting again failed"
        )

    def test_expiry_aborts_the_remote_upload(
        self: BrokerSelf, adapter: StorageAdapter, broker: Broker, upload_client: UploadClient
    ) -> None:
        storage = self.require_multipart(adapter)
        part = self.part_size_for(storage)
        started = broker.initiate_multipart_session(
            "contract", filename="e.pdf", content_type=CONTENT_TYPE, size=2 * part
        )
        sid, key = started.session.id, started.session.storage_key
        upload_client.put_bytes(broker.sign_multipart_part(sid, 1).presigned, pdf(part))

        report = broker.expire_sessions(now=dt.datetime.now(dt.UTC) + SOME_TIME_LATER)
        fail_unless(sid in report.expired_session_ids, "the session did not expire")
        fail_unless(report.remote_aborted >= 1, "expiry aborted no remote upload")
        fail_unless(report.cleanup_failures == 0, f"{report.cleanup_failures} cleanups failed")
        fail_unless(broker.get_session(sid).state is SessionState.EXPIRED, "not expired")
        assert_upload_gone(storage, key, started.multipart.upload_id)
        assert_no_object(storage, key)

    def test_part_checksums_bind_every_part_and_complete(
        self: BrokerSelf,
        adapter: StorageAdapter,
        broker: Broker,
        upload_client: UploadClient,
        clock: BrokerContract.Clock,
        tmp_path: Path,
    ) -> None:
        storage = self.require_multipart(adapter)
        algorithms = storage.part_limits.checksum_algorithms
        if not algorithms:
            pytest.skip(f"{type(adapter).__name__} binds no part checksums")
        algorithm = sorted(algorithms)[0]
        part = self.part_size_for(storage)
        data = pdf(2 * part + 321)
        path = self.write(tmp_path, data)
        started = broker.initiate_multipart_session(
            "contract",
            filename="sum.pdf",
            content_type=CONTENT_TYPE,
            size=len(data),
            checksum_algorithm=algorithm,
        )
        sid = started.session.id
        fail_unless(started.multipart.checksum_algorithm == algorithm, "the upload lost it")
        fail_unless(started.session.checksum_algorithm == algorithm, "the session lost it")
        good = PartChecksum.of(algorithm, data[:part]).value
        sign: Callable[..., object] = broker.sign_multipart_parts  # refusals of any input
        for bad in (None, [], [good, good], ["not base64!"], [7]):
            with pytest.raises(InvalidArgument):
                sign(sid, [1], checksums=bad)
        fail_unless(
            broker.get_session(sid).state is SessionState.INITIALIZED,
            "a refused signature changed the session",
        )
        parts = upload_client.upload_parts(
            path,
            part_size=part,
            sign=lambda numbers, sums: (
                broker.sign_multipart_parts(sid, numbers, checksums=sums).parts
            ),
            checksum_algorithm=algorithm,
            concurrency=2,
        )
        fail_unless(
            all(p.checksum is not None and p.checksum.algorithm == algorithm for p in parts),
            "the uploaded parts carry no checksums",
        )
        done = broker.complete_multipart_upload(sid, parts)
        asset = self.settle(broker, clock, done)
        fail_unless(
            asset.state is AssetState.AVAILABLE, f"asset {asset.state}: {asset.quarantine_reason}"
        )
        fail_unless(stored(storage, asset.storage_key) == data, "storage holds other bytes")

    def test_a_checksum_the_backend_cannot_bind_is_refused_before_anything_is_created(
        self: BrokerSelf, adapter: StorageAdapter, make_broker: BrokerContract.BrokerFactory
    ) -> None:
        storage = self.require_multipart(adapter)
        spy = Spy(storage)
        broker = make_broker(spy)
        unbound = ["md5"] + (
            [] if "crc32" in storage.part_limits.checksum_algorithms else ["crc32"]
        )
        for algorithm in unbound:
            with pytest.raises(InvalidArgument):
                broker.initiate_multipart_session(
                    "contract",
                    filename="f.pdf",
                    content_type=CONTENT_TYPE,
                    size=10,
                    checksum_algorithm=algorithm,
                )
        fail_unless(spy.opened == [], f"{len(spy.opened)} remote uploads were created")
        fail_unless(broker.list_sessions() == [], "a refused initiate wrote a session")
        plain = broker.initiate_multipart_session(
            "contract", filename="p.pdf", content_type=CONTENT_TYPE, size=10
        )
        with pytest.raises(InvalidArgument):  # this session binds none
            broker.sign_multipart_parts(plain.session.id, [1], checksums=["AAAAAA=="])

    def test_a_failed_database_write_aborts_the_remote_upload(
        self: BrokerSelf,
        adapter: StorageAdapter,
        make_broker: BrokerContract.BrokerFactory,
        tmp_path: Path,
    ) -> None:
        storage = self.require_multipart(adapter)
        spy = Spy(storage)
        tableless = Database("sqlite:///" + str(tmp_path / "no-tables.db"))
        try:
            with pytest.raises(DatabaseError):
                make_broker(spy, database=tableless).initiate_multipart_session(
                    "contract", filename="f.pdf", content_type=CONTENT_TYPE, size=10
                )
        finally:
            tableless.close()
        fail_unless(len(spy.opened) == 1, f"{len(spy.opened)} remote uploads were created")
        fail_unless(spy.closed == spy.opened, "the remote upload was not aborted")
        assert_upload_gone(storage, *spy.opened[0])
