"""The presigned POST strategy through the broker, with the in-memory adapter.

The fake judges a form POST by its policy (key, content type, size range,
expiry) and, like S3 and GCS, lets a second POST replace the object unless
the policy is create-only. Promotion must then wait until the last policy
expired, and the fingerprint verification recorded must catch a
replacement made before promotion.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from fakes import PNG, ClientRefused, MemoryStorage
from rindle_core import (
    AssetState,
    Broker,
    Capability,
    InvalidArgument,
    InvalidTransition,
    PolicyViolation,
    PresignedPost,
    Profile,
    SessionExpired,
    SessionState,
    SignPostResult,
    StorageUnavailable,
    UploadUnsupported,
)
from rindle_core._flows.post import post_size_range

START = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


class Clock:
    """The broker's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance_past(self, moment: dt.datetime) -> None:
        self.now = max(self.now, moment + dt.timedelta(seconds=1))


@pytest.fixture
def clock() -> Clock:
    return Clock()


def post_png(broker: Broker, memory: MemoryStorage) -> tuple[str, PresignedPost]:
    """Open a POST session for a PNG, sign it and POST the PNG: the session id
    and the form the client was given."""
    session = broker.initiate_post_session(
        "images", filename="a.png", content_type="image/png", size=len(PNG)
    )
    post = broker.sign_post(session.id).post
    memory.client_post(post, PNG)
    return session.id, post


# -- opening and signing --------------------------------------------------------------


def test_a_post_session_records_strategy_owner_and_metadata(broker: Broker) -> None:
    session = broker.initiate_post_session(
        "images",
        filename="a.png",
        content_type="image/png",
        size=10,
        owner="user-1",
        metadata={"album": "x"},
    )
    assert session.upload_strategy == "presigned_post"
    assert session.state is SessionState.INITIALIZED
    assert (session.owner, dict(session.metadata)) == ("user-1", {"album": "x"})
    assert broker.get_asset(session.asset_id).owner == "user-1"


def test_sign_post_binds_key_type_and_the_declared_size(
    broker: Broker, memory: MemoryStorage
) -> None:
    session = broker.initiate_post_session(
        "images", filename="a.png", content_type="image/png", size=len(PNG)
    )
    result = broker.sign_post(session.id, expires_in=120)
    assert isinstance(result, SignPostResult)
    assert result.session.state is SessionState.SIGNED
    grant = memory.posts[-1]
    assert (grant.key, grant.content_type) == (session.storage_key, "image/png")
    assert (grant.min_size, grant.max_size) == (len(PNG), len(PNG))
    assert result.post.fields["key"] == session.storage_key
    for body in (PNG + b"!", PNG[:-1]):
        with pytest.raises(ClientRefused) as refused:
            memory.client_post(result.post, body)
        assert refused.value.status == 400
    with pytest.raises(ClientRefused):
        memory.client_post(result.post, PNG, content_type="text/html")
    assert memory.objects == {}


def test_an_undeclared_size_is_bounded_by_the_profile(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    sized = Profile(name="sized", storage="mem", min_bytes=5, max_bytes=50)
    broker = make_broker(
        profiles=[sized, Profile(name="images", storage="mem", max_bytes=1_000_000)]
    )
    for profile, expected in (("sized", (5, 50)), ("images", (0, 1_000_000))):
        session = broker.initiate_post_session(profile, filename="a.bin", content_type="a/b")
        broker.sign_post(session.id)
        assert (memory.posts[-1].min_size, memory.posts[-1].max_size) == expected
    post = broker.sign_post(
        broker.initiate_post_session("sized", filename="a.bin", content_type="a/b").id
    ).post
    with pytest.raises(ClientRefused):
        memory.client_post(post, bytes(51))


def test_the_size_range_never_exceeds_the_backend() -> None:
    unlimited = Profile(name="any", storage="mem")
    capped = Profile(name="capped", storage="mem", min_bytes=10, max_bytes=1000)
    assert post_size_range(unlimited, None, 500) == (0, 500)
    assert post_size_range(capped, None, 500) == (10, 500)
    assert post_size_range(capped, None, 5) == (5, 5)
    assert post_size_range(capped, 42, 500) == (42, 42)


def test_refusals_at_initiate_write_nothing(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    broker = make_broker()
    with pytest.raises(InvalidArgument, match="multipart"):
        broker.initiate_post_session(
            "any", filename="a", content_type="a/b", size=memory.max_post_size + 1
        )
    with pytest.raises(PolicyViolation):
        broker.initiate_post_session(
            "images", filename="a.png", content_type="image/png", size=2**21
        )
    with pytest.raises(InvalidArgument):
        broker.initiate_post_session("any", filename="a", content_type="a/b", owner="")
    without = MemoryStorage(frozenset(Capability) - {Capability.PRESIGNED_POST})
    limited = make_broker(storages={"mem": without})
    with pytest.raises(UploadUnsupported) as info:
        limited.initiate_post_session("any", filename="a", content_type="a/b")
    assert info.value.capability is Capability.PRESIGNED_POST
    assert broker.list_sessions() == []


def test_a_policy_never_outlives_its_session(
    make_broker: Callable[..., Broker], clock: Clock
) -> None:
    broker = make_broker(clock=clock)
    session = broker.initiate_post_session("any", filename="a", content_type="a/b", expires_in=60)
    clock.now += dt.timedelta(seconds=20)
    result = broker.sign_post(session.id, expires_in=3600)
    assert result.session.urls_expire_at == session.expires_at
    clock.advance_past(session.expires_at)
    with pytest.raises(SessionExpired):
        broker.sign_post(session.id)


def test_strategies_are_not_mixed(broker: Broker) -> None:
    put = broker.initiate_session("any", filename="a", content_type="a/b")
    post = broker.initiate_post_session("any", filename="a", content_type="a/b")
    with pytest.raises(InvalidArgument):
        broker.sign_post(put.id)
    with pytest.raises(InvalidArgument):
        broker.sign_url(post.id)


def test_the_presigned_post_repr_hides_the_policy(broker: Broker) -> None:
    session = broker.initiate_post_session("any", filename="a", content_type="a/b")
    post = broker.sign_post(session.id).post
    assert isinstance(post, PresignedPost)
    assert "policy" in repr(post)
    assert post.fields["policy"] not in repr(post)
    assert post.fields["policy"] not in repr(broker.sign_post(session.id))


# -- completion and promotion -------------------------------------------------------------


def test_create_only_backend_promotes_at_once(
    make_broker: Callable[..., Broker], clock: Clock
) -> None:
    memory = MemoryStorage(post_create_only=True)
    broker = make_broker(storages={"mem": memory}, clock=clock)
    session_id, post = post_png(broker, memory)
    assert broker.get_session(session_id).urls_expire_at is None
    result = broker.verify_completion(session_id)
    assert result.session.state is SessionState.COMPLETED
    assert broker.get_asset(result.asset.id).state is AssetState.AVAILABLE
    with pytest.raises(InvalidTransition):  # a completed session signs nothing more
        broker.sign_post(session_id)
    with pytest.raises(ClientRefused) as refused:  # and its form cannot replace the object
        memory.client_post(post, PNG[:-1] + b"!")
    assert refused.value.status == 412


def test_promotion_waits_until_the_last_policy_expired(
    make_broker: Callable[..., Broker], memory: MemoryStorage, clock: Clock
) -> None:
    broker = make_broker(clock=clock)
    session = broker.initiate_post_session(
        "images", filename="a.png", content_type="image/png", size=len(PNG)
    )
    first = broker.sign_post(session.id, expires_in=60).session.urls_expire_at
    assert first == START + dt.timedelta(seconds=60)
    clock.now += dt.timedelta(seconds=30)
    second = broker.sign_post(session.id, expires_in=60)
    assert second.session.urls_expire_at == START + dt.timedelta(seconds=90)
    memory.client_post(second.post, PNG)
    result = broker.verify_completion(session.id)
    assert result.session.state is SessionState.COMPLETED
    assert broker.get_asset(result.asset.id).state is AssetState.VALIDATING  # inline, yet waiting
    assert broker.run_jobs() == []
    clock.advance_past(START + dt.timedelta(seconds=90) + broker.maintenance.cleanup_grace)
    assert [o.result for o in broker.run_jobs()] == ["succeeded"]
    assert broker.get_asset(result.asset.id).state is AssetState.AVAILABLE


def test_a_replacement_after_verification_is_quarantined(
    make_broker: Callable[..., Broker], memory: MemoryStorage, clock: Clock
) -> None:
    """S3's POST has no create-only condition: the policy can be replayed until it
    expires. The fingerprint verification recorded catches the replacement."""
    broker = make_broker(clock=clock, job_mode="worker")
    session_id, post = post_png(broker, memory)
    key = post.fields["key"]
    result = broker.verify_completion(session_id)
    assert result.asset.stored_version == memory.versions[key]
    forged = PNG[:16] + b"<script>alert(1)</script>".ljust(len(PNG) - 16, b" ")
    memory.client_post(post, forged)  # the same form, replayed before it expired
    assert memory.writes[key] == 2
    assert result.session.urls_expire_at is not None
    clock.advance_past(result.session.urls_expire_at + broker.maintenance.cleanup_grace)
    broker.run_jobs()
    asset = broker.get_asset(result.asset.id)
    assert asset.state is AssetState.QUARANTINED
    assert (asset.quarantine_reason or "").startswith("object_changed")


def test_abort_removes_what_a_post_stored(broker: Broker, memory: MemoryStorage) -> None:
    session_id, _ = post_png(broker, memory)
    key = broker.get_session(session_id).storage_key
    assert key in memory.objects
    assert broker.abort_session(session_id).state is SessionState.ABORTED
    assert key not in memory.objects


# -- a form POST that nobody completes ---------------------------------------------------


def test_a_landed_post_is_verified_at_its_deadline_not_deleted(
    make_broker: Callable[..., Broker], memory: MemoryStorage, clock: Clock
) -> None:
    """Uppy calls nothing after a form POST: maintenance verifies what landed."""
    broker = make_broker(clock=clock)
    landed, post = post_png(broker, memory)
    never = broker.initiate_post_session(
        "images", filename="b.png", content_type="image/png", size=len(PNG)
    )
    broker.sign_post(never.id)
    deadline = max(broker.get_session(landed).expires_at, broker.get_session(never.id).expires_at)
    clock.advance_past(deadline)
    report = broker.expire_sessions(now=clock.now)
    assert report.expired_session_ids == (never.id,)
    settled = broker.get_session(landed)
    assert settled.state is SessionState.COMPLETED
    assert memory.objects[post.fields["key"]][0] == PNG  # kept, not cleaned up
    clock.advance_past(clock.now + broker.maintenance.cleanup_grace)
    broker.run_jobs()
    assert broker.get_asset(settled.asset_id).state is AssetState.AVAILABLE
    with pytest.raises(InvalidTransition):  # the other one stays expired
        broker.verify_completion(never.id)


def test_a_dry_run_verifies_nothing(
    make_broker: Callable[..., Broker], memory: MemoryStorage, clock: Clock
) -> None:
    broker = make_broker(clock=clock)
    landed, _ = post_png(broker, memory)
    clock.advance_past(broker.get_session(landed).expires_at)
    broker.expire_sessions(now=clock.now, dry_run=True)
    assert broker.get_session(landed).state is SessionState.SIGNED


def test_a_post_that_cannot_be_checked_is_spared_not_expired(
    make_broker: Callable[..., Broker],
    memory: MemoryStorage,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Storage down at the deadline: the upload is neither verified nor deleted."""
    broker = make_broker(clock=clock)
    landed, _ = post_png(broker, memory)
    clock.advance_past(broker.get_session(landed).expires_at)

    def down(key: str) -> None:
        raise StorageUnavailable("down")

    with monkeypatch.context() as patched:
        patched.setattr(memory, "head", down)
        report = broker.expire_sessions(now=clock.now)
    assert report.expired_session_ids == ()
    assert broker.get_session(landed).state is SessionState.SIGNED
    broker.expire_sessions(now=clock.now)
    assert broker.get_session(landed).state is SessionState.COMPLETED
