"""The broker contract's presigned POST flows: a browser form, verified and promoted.

Mixed into :class:`rindle_core.testing.BrokerContract` (each flow's ``self``
is a :class:`BrokerPostSelf`). Every upload is a real ``multipart/form-data``
POST with the signed policy's fields and the file last, as Uppy's
single-file path sends it. Where the backend's POST can replace an object
(S3, GCS), promotion waits until the policy expired plus the clock-skew
grace; :meth:`~rindle_core.testing.BrokerContract.settle` waits it out on the
brokers' clock.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

import httpx
import pytest

from rindle_core import (
    AssetState,
    Broker,
    Profile,
    SessionState,
    SignPostResult,
    StorageObjectMissing,
)
from rindle_core._broker_kit import (
    CONTENT_TYPE,
    SOME_TIME_LATER,
    BrokerSelf,
    pdf,
    stored,
)
from rindle_core._contract_helpers import fail_unless
from rindle_core._storage_post_checks import post_form
from rindle_core.plugins import make_plugin_manager
from rindle_core.storage import Capability, StorageAdapter

if TYPE_CHECKING:
    from rindle_core import Database
    from rindle_core._broker_contract import BrokerContract

__all__ = ["BrokerPostSelf", "PresignedPostChecks"]


class BrokerPostSelf(BrokerSelf, Protocol):
    """What the POST flows use of the contract, besides :class:`BrokerSelf`."""

    @property
    def enforces_post_policy(self) -> bool: ...


def _require_post(kit: BrokerSelf, adapter: StorageAdapter) -> None:
    """Skip unless *adapter* signs form POSTs and can read the object back."""
    kit.require(adapter, Capability.PRESIGNED_POST, Capability.HEAD, Capability.RANGE_READ)


def _sign(broker: Broker, *, size: int | None, name: str = "form.pdf") -> SignPostResult:
    """Initiate a ``presigned_post`` session and sign its form."""
    session = broker.initiate_post_session(
        "contract", filename=name, content_type=CONTENT_TYPE, size=size
    )
    fail_unless(session.upload_strategy == "presigned_post", f"{session.upload_strategy}")
    signed = broker.sign_post(session.id)
    fail_unless(signed.session.state is SessionState.SIGNED, f"signing left {signed.session.state}")
    fields = signed.post.fields
    fail_unless(fields.get("key") == session.storage_key, "the form is not bound to the key")
    types = [value for name, value in fields.items() if name.lower() == "content-type"]
    fail_unless(types == [CONTENT_TYPE], "the form is not bound to the declared type")
    return signed


def _assert_refused(response: httpx.Response, broker: Broker, session_id: str) -> None:
    """The server answered 4xx, stored nothing, and the session did not move."""
    status = response.status_code
    fail_unless(400 <= status < 500, f"a POST outside the policy got HTTP {status}")
    with pytest.raises(StorageObjectMissing):
        broker.verify_completion(session_id)
    state = broker.get_session(session_id).state
    fail_unless(state is SessionState.SIGNED, f"a refused POST left the session {state}")


class PresignedPostChecks:
    """Form POSTs under a signed policy: promotion, the size bound, expiry."""

    #: Whether the server checks POST policies (signature, key, type, size
    #: range, expiry), so a body outside the bound size is refused; moto and
    #: fake-gcs-server store whatever a form sends.
    enforces_post_policy: ClassVar[bool] = True

    @pytest.fixture
    def post_adapter(self, adapter: StorageAdapter) -> StorageAdapter:
        """The adapter the POST flows upload through: ``adapter``, unless the server
        under it takes no form POST (override it with one on a server that does)."""
        return adapter

    @pytest.fixture
    def post_broker(
        self, make_broker: BrokerContract.BrokerFactory, post_adapter: StorageAdapter
    ) -> Broker:
        """A broker over ``post_adapter`` that runs promotion inline."""
        return make_broker(post_adapter)

    def test_post_becomes_available(
        self: BrokerPostSelf,
        post_adapter: StorageAdapter,
        post_broker: Broker,
        http_client: httpx.Client,
        clock: BrokerContract.Clock,
    ) -> None:
        _require_post(self, post_adapter)
        data = pdf(200_000)
        signed = _sign(post_broker, size=len(data))
        response = post_form(http_client, signed.post, data)
        fail_unless(response.is_success, f"the form POST returned {response.status_code}")

        verified = post_broker.verify_completion(signed.session.id)
        fail_unless(verified.session.state is SessionState.COMPLETED, f"{verified.session.state}")
        asset = self.settle(post_broker, clock, verified)
        fail_unless(
            asset.state is AssetState.AVAILABLE, f"asset {asset.state}: {asset.quarantine_reason}"
        )
        fail_unless(asset.byte_size == len(data), f"asset byte_size {asset.byte_size}")
        fail_unless(asset.content_type == CONTENT_TYPE, f"content_type {asset.content_type!r}")
        fail_unless(stored(post_adapter, asset.storage_key) == data, "storage holds other bytes")
        again = post_broker.verify_completion(signed.session.id)
        fail_unless(again.asset.id == asset.id, "verifying twice gave another asset")

    def test_an_undeclared_size_is_bound_by_the_profile(
        self: BrokerPostSelf,
        post_adapter: StorageAdapter,
        broker_database: Database,
        http_client: httpx.Client,
        clock: BrokerContract.Clock,
    ) -> None:
        """No size declared (Uppy declares none): the policy allows what the profile does."""
        _require_post(self, post_adapter)
        data = pdf(3000)
        capped = Profile(
            name="contract",
            storage="contract",
            allow_mime=[CONTENT_TYPE],
            max_bytes=len(data),
            key_prefix="rindle-broker-contract",
        )
        broker = Broker(
            broker_database,
            profiles=[capped],
            storages={"contract": post_adapter},
            plugin_manager=make_plugin_manager(load_entrypoints=False),
            job_mode="inline",
            clock=clock,
        )
        signed = _sign(broker, size=None)
        fail_unless(signed.session.declared_size is None, "a size was declared")
        if self.enforces_post_policy:
            _assert_refused(
                post_form(http_client, signed.post, pdf(len(data) + 1)), broker, signed.session.id
            )
        response = post_form(http_client, signed.post, data)
        fail_unless(response.is_success, f"the form POST returned {response.status_code}")
        asset = self.settle(broker, clock, broker.verify_completion(signed.session.id))
        fail_unless(
            asset.state is AssetState.AVAILABLE, f"asset {asset.state}: {asset.quarantine_reason}"
        )
        fail_unless(asset.byte_size == len(data), f"asset byte_size {asset.byte_size}")

    @pytest.mark.parametrize("body", ["larger", "smaller"])
    def test_a_body_outside_the_declared_size_never_becomes_available(
        self: BrokerPostSelf,
        post_adapter: StorageAdapter,
        post_broker: Broker,
        http_client: httpx.Client,
        clock: BrokerContract.Clock,
        body: Literal["larger", "smaller"],
    ) -> None:
        """A server that checks policies refuses it; otherwise promotion refuses it."""
        _require_post(self, post_adapter)
        size = 5000
        signed = _sign(post_broker, size=size)
        data = pdf(size + 1 if body == "larger" else size - 1)
        response = post_form(http_client, signed.post, data)
        if self.enforces_post_policy or not response.is_success:
            _assert_refused(response, post_broker, signed.session.id)
            return
        asset = self.settle(post_broker, clock, post_broker.verify_completion(signed.session.id))
        fail_unless(
            asset.state is AssetState.QUARANTINED, f"a {body} body left the asset {asset.state}"
        )
        fail_unless(bool(asset.quarantine_reason), "quarantined without a reason")

    def test_a_post_nobody_completes_is_verified_at_its_deadline(
        self: BrokerPostSelf,
        post_adapter: StorageAdapter,
        post_broker: Broker,
        http_client: httpx.Client,
    ) -> None:
        """Uppy calls nothing after a form POST: expiry verifies what landed and
        expires (and cleans up) only the sessions whose form never arrived."""
        _require_post(self, post_adapter)
        self.require(post_adapter, Capability.DELETE)
        landed = _sign(post_broker, size=2000)
        data = pdf(2000)
        response = post_form(http_client, landed.post, data)
        fail_unless(response.is_success, f"the form POST returned {response.status_code}")
        never = _sign(post_broker, size=2000)
        report = post_broker.expire_sessions(now=dt.datetime.now(dt.UTC) + SOME_TIME_LATER)
        fail_unless(
            report.expired_session_ids == (never.session.id,),
            f"expired {report.expired_session_ids}, not only the session without an upload",
        )
        fail_unless(report.cleanup_failures == 0, f"{report.cleanup_failures} cleanups failed")
        state = post_broker.get_session(landed.session.id).state
        fail_unless(state is SessionState.COMPLETED, f"the landed POST's session is {state}")
        fail_unless(
            stored(post_adapter, landed.session.storage_key) == data,
            "the landed object was not kept as posted",
        )
        state = post_broker.get_session(never.session.id).state
        fail_unless(state is SessionState.EXPIRED, f"the other session is {state}")


if TYPE_CHECKING:

    def _fits(contract: BrokerContract) -> BrokerPostSelf:
        """mypy proves the contract is what the POST flows take as ``self``."""
        return contract
