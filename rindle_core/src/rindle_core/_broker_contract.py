"""The broker contract: rindle's upload lifecycle, end to end, on one storage adapter.

:class:`BrokerContract` is the kit a storage plugin's tests subclass beside
:class:`~rindle_core.testing.StorageAdapterContract`. That one checks the
adapter's methods one by one; this one runs a :class:`~rindle_core.Broker`
over the adapter and drives every flow a web app drives (initiate, sign,
upload over HTTP, verify or complete, promote, download, abort, expire),
against the same real server. Each flow runs when the adapter can do it
(:func:`~rindle_core.storage.capabilities_of`) and is skipped with a reason
otherwise.

This module holds the class, its flags, fixtures and helpers; the flows are
mixed in by upload strategy (``_broker_put_checks``, ``_broker_post_checks``,
``_broker_part_checks``, ``_broker_resumable_checks``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

import httpx
import pytest

from rindle_core import (
    Asset,
    AssetState,
    Broker,
    Database,
    JobMode,
    Profile,
    SessionState,
    VerifyResult,
)
from rindle_core._broker_kit import CONTENT_TYPE, BrokerSelf
from rindle_core._broker_part_checks import MultipartChecks
from rindle_core._broker_post_checks import PresignedPostChecks
from rindle_core._broker_put_checks import SinglePutChecks
from rindle_core._broker_resumable_checks import ResumableChecks
from rindle_core._contract_helpers import fail_unless
from rindle_core.client import UploadClient
from rindle_core.plugins import make_plugin_manager
from rindle_core.storage import (
    Capability,
    MultipartStorage,
    PresignedRequest,
    ResumableStorage,
    StorageAdapter,
    capabilities_of,
    supports_multipart,
    supports_resumable,
)

__all__ = ["BrokerContract"]


class BrokerContract(SinglePutChecks, PresignedPostChecks, MultipartChecks, ResumableChecks):
    """The broker's flows every storage adapter must carry; subclass it as ``Test…``.

    Override the ``adapter`` fixture (required, as for
    :class:`~rindle_core.testing.StorageAdapterContract`); the kit builds
    brokers over it on a SQLite database of the test's own. Optionally
    override ``http_client`` (an :class:`httpx.Client`, e.g. to trust a test
    CA) and ``profile``::

        import pytest
        from rindle_core.testing import BrokerContract

        class TestMyBrokerContract(BrokerContract):
            @pytest.fixture
            def adapter(self, my_server):
                return MyStorage(endpoint_url=my_server.url, bucket="contract")

    The flows, each skipped with a reason when the adapter lacks its
    capability: a single PUT becomes ``available`` and downloads as the
    verified type; a body of another type, or sent with other headers than
    signed, never becomes available; the URL cannot replace a verified
    object, and an object replaced before promotion is quarantined
    ``object_changed``; a form POST under a signed policy becomes
    ``available`` (with or without a declared size), and a body outside the
    bound size never does (``enforces_post_policy``; ``post_adapter`` when
    the server under ``adapter`` takes no form POST); multipart parts sent
    in parallel and out of order, completed with or without the part list
    (``parts=None``: a client that lost its ETags), resumed after a restart with
    :meth:`~rindle_core.Broker.multipart_status`; incomplete part lists
    refused; completion retried after a crash converges; resumable sessions
    report progress, resume, cancel; abort, expiry and a failed database
    write clean up the remote upload. Promotion that waits for part URLs
    (:attr:`~rindle_core.storage.PartLimits.part_urls_outlive_completion`)
    or a POST policy to expire is waited out with the brokers' clock.

    Where an emulator cannot do what the service does, set its flag False
    and prove the behaviour in the plugin's own tests. Every key is unique
    and every test has its own database, so the suite is safe under
    ``pytest-xdist``.

    A backend's own flows can be methods of the subclass, on the kit's
    fixtures: ``broker`` (promotion inline), ``make_broker`` (each call a
    process restart on the same database; :class:`BrokerFactory`), ``clock``
    (:class:`Clock`, which every broker of the test runs on),
    ``upload_client``, and the helpers :meth:`signer` and :meth:`settle`.
    """

    #: Whether the server refuses a second upload with a URL whose object exists.
    enforces_create_only: ClassVar[bool] = True
    #: Whether download URLs can set the served Content-Type and Content-Disposition.
    sets_response_headers: ClassVar[bool] = True
    #: Whether the server cancels a resumable session (and then reports it
    #: unknown or expired), so cancel and expiry can be checked remotely.
    cancels_resumable_sessions: ClassVar[bool] = True
    #: Preferred part size (raised to the backend's minimum) and resumable chunk size.
    part_size: ClassVar[int] = 64 * 1024
    chunk_size: ClassVar[int] = 256 * 1024

    class Clock:
        """The brokers' clock: real time until a test moves it forward."""

        def __init__(self) -> None:
            self.offset = dt.timedelta()

        def __call__(self) -> dt.datetime:
            return dt.datetime.now(dt.UTC) + self.offset

        def advance(self, seconds: float) -> None:
            """Move forward by *seconds*."""
            self.offset += dt.timedelta(seconds=seconds)

        def advance_past(self, moment: dt.datetime) -> None:
            """Move forward until *moment* has passed (never back)."""
            gap = (moment - self()).total_seconds() + 1
            if gap > 0:
                self.advance(gap)

    class BrokerFactory(Protocol):
        """``make_broker``: a broker on the test's database; each call is a process restart."""

        def __call__(
            self,
            adapter: StorageAdapter | None = None,
            *,
            database: Database | None = None,
            job_mode: JobMode = "inline",
        ) -> Broker: ...

    # -- fixtures ---------------------------------------------------------------

    @pytest.fixture
    def adapter(self) -> StorageAdapter:
        """The adapter under test, talking to a real server."""
        pytest.fail(f"{type(self).__name__} must override the `adapter` fixture", pytrace=False)

    @pytest.fixture
    def http_client(self) -> Iterator[httpx.Client]:
        """The HTTP client that uploads and downloads like a browser would."""
        with httpx.Client(timeout=60.0, follow_redirects=False) as client:
            yield client

    @pytest.fixture
    def upload_client(self, http_client: httpx.Client) -> UploadClient:
        """:class:`~rindle_core.client.UploadClient` on top of ``http_client``."""
        return UploadClient(http=http_client)

    @pytest.fixture
    def clock(self) -> BrokerContract.Clock:
        """The clock every broker of the test runs on."""
        return BrokerContract.Clock()

    @pytest.fixture
    def profile(self) -> Profile:
        """The profile the flows upload through: PDFs, :attr:`part_size` parts."""
        return Profile(
            name="contract",
            storage="contract",
            allow_mime=[CONTENT_TYPE],
            part_size=self.part_size,
            key_prefix="rindle-broker-contract",
        )

    @pytest.fixture
    def broker_database(self, tmp_path: Path) -> Iterator[Database]:
        """The test's own SQLite database, with rindle's tables."""
        database = Database("sqlite:///" + str(tmp_path / "rindle-contract.db"))
        database.create_all()
        yield database
        database.close()

    @pytest.fixture
    def make_broker(
        self,
        broker_database: Database,
        adapter: StorageAdapter,
        profile: Profile,
        clock: BrokerContract.Clock,
    ) -> BrokerContract.BrokerFactory:
        """Build a broker over ``adapter`` (or another) on the test's database."""
        under_test = adapter

        def make(
            adapter: StorageAdapter | None = None,
            *,
            database: Database | None = None,
            job_mode: JobMode = "inline",
        ) -> Broker:
            return Broker(
                database or broker_database,
                profiles=[profile],
                storages={profile.storage: adapter or under_test},
                plugin_manager=make_plugin_manager(load_entrypoints=False),
                job_mode=job_mode,
                clock=clock,
            )

        return make

    @pytest.fixture
    def broker(self, make_broker: BrokerContract.BrokerFactory) -> Broker:
        """A broker over ``adapter`` that runs promotion inline."""
        return make_broker()

    # -- helpers ------------------------------------------------------------------

    @staticmethod
    def require(adapter: StorageAdapter, *capabilities: Capability) -> None:
        """Skip the test unless *adapter* can do every one of *capabilities*."""
        have = capabilities_of(adapter)
        missing = [c.value for c in capabilities if c not in have]
        if missing:
            pytest.skip(f"{adapter.backend} does not offer {', '.join(missing)}")

    def require_multipart(self, adapter: StorageAdapter) -> MultipartStorage:
        """*adapter* as a multipart backend, or skip the test."""
        self.require(adapter, Capability.HEAD, Capability.RANGE_READ)
        if not supports_multipart(adapter):
            pytest.skip(f"{adapter.backend} does not offer {Capability.MULTIPART_UPLOAD.value}")
        return adapter

    def require_resumable(self, adapter: StorageAdapter) -> ResumableStorage:
        """*adapter* as a resumable backend, or skip the test."""
        self.require(adapter, Capability.HEAD, Capability.RANGE_READ)
        if not supports_resumable(adapter):
            pytest.skip(f"{adapter.backend} does not offer {Capability.RESUMABLE_UPLOAD.value}")
        return adapter

    def require_single_put(self, adapter: StorageAdapter) -> None:
        """Skip the test unless *adapter* takes signed PUTs and can read them back."""
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD, Capability.RANGE_READ)

    def part_size_for(self, adapter: MultipartStorage) -> int:
        """The part size the broker picks for small uploads on *adapter*."""
        limits = adapter.part_limits
        return min(max(self.part_size, limits.min_part_size), limits.max_part_size)

    @staticmethod
    def write(tmp_path: Path, data: bytes, name: str = "upload.pdf") -> Path:
        """*data* in a file under *tmp_path*."""
        path = tmp_path / name
        path.write_bytes(data)
        return path

    @staticmethod
    def signer(
        broker: Broker, session_id: str, sent: list[int] | None = None
    ) -> Callable[[Sequence[int]], Sequence[PresignedRequest]]:
        """The ``sign`` callback of :meth:`UploadClient.upload_parts` (recording into *sent*)."""

        def sign(numbers: Sequence[int]) -> Sequence[PresignedRequest]:
            if sent is not None:
                sent.extend(numbers)
            return broker.sign_multipart_parts(session_id, list(numbers)).parts

        return sign

    @staticmethod
    def settle(broker: Broker, clock: BrokerContract.Clock, result: VerifyResult) -> Asset:
        """The asset once promotion ran, waiting out part URLs that outlive completion."""
        asset = broker.get_asset(result.asset.id)
        urls_expire_at = broker.get_session(result.session.id).urls_expire_at
        if asset.state is AssetState.VALIDATING and urls_expire_at is not None:
            clock.advance_past(urls_expire_at + broker.maintenance.cleanup_grace)
            broker.run_jobs()
            asset = broker.get_asset(asset.id)
        return asset

    def upload_single(
        self, broker: Broker, upload_client: UploadClient, data: bytes, *, name: str = "a.pdf"
    ) -> tuple[str, PresignedRequest]:
        """Initiate, sign and PUT *data*; the session id and the signed request."""
        session = broker.initiate_session(
            "contract", filename=name, content_type=CONTENT_TYPE, size=len(data)
        )
        signed = broker.sign_url(session.id)
        fail_unless(
            signed.session.state is SessionState.SIGNED, f"signing left {signed.session.state}"
        )
        upload_client.put_bytes(signed.presigned, data)
        return session.id, signed.presigned


if TYPE_CHECKING:

    def _fits(contract: BrokerContract) -> BrokerSelf:
        """mypy proves the contract is what its mixed-in flows take as ``self``."""
        return contract
