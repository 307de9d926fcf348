"""``Broker.delete_asset`` (issue 13, point 5, in part) on every database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pluggy
import pytest
import sqlalchemy as sa

from fakes import PNG, MemoryStorage, broker_factory
from rindle_core import (
    AssetState,
    Broker,
    Database,
    InvalidArgument,
    InvalidTransition,
    StorageUnavailable,
    hookimpl,
)
from rindle_core._flows.asset_lifecycle import AssetSweepReport
from rindle_core.db import assets_table


class Transitions:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    @hookimpl
    def rindle_asset_transitioned(self, asset: object, from_state: str, to_state: str) -> None:
        self.seen.append((getattr(asset, "id", ""), from_state, to_state))


@pytest.fixture
def transitions(pm: pluggy.PluginManager) -> Transitions:
    seen = Transitions()
    pm.register(seen)
    return seen


@pytest.fixture
def broker(
    any_db: Database, memory: MemoryStorage, pm: pluggy.PluginManager, transitions: Transitions
) -> Broker:
    return broker_factory(any_db, memory, pm)(job_mode="inline")


def verified(broker: Broker, memory: MemoryStorage, data: bytes = PNG) -> str:
    session = broker.initiate_session(
        "images", filename="cat.png", content_type="image/png", size=len(data)
    )
    broker.sign_url(session.id)
    memory.client_put(session.storage_key, data, "image/png")
    return broker.verify_completion(session.id).asset.id


def test_an_available_asset_is_deleted_with_its_object(
    broker: Broker, memory: MemoryStorage, transitions: Transitions
) -> None:
    asset_id = verified(broker, memory)
    asset = broker.get_asset(asset_id)
    assert asset.state is AssetState.AVAILABLE and asset.storage_key in memory.objects
    transitions.seen.clear()
    deleted = broker.delete_asset(asset_id)
    assert deleted.state is AssetState.DELETED
    assert deleted.stored_version is None  # the object's delete succeeded
    assert asset.storage_key not in memory.objects
    assert transitions.seen == [(asset_id, "available", "deleted")]
    memory.calls.clear()
    assert broker.delete_asset(asset_id) == deleted  # idempotent, and asks storage nothing
    assert memory.calls == []


def test_a_quarantined_asset_is_deleted_too(broker: Broker, memory: MemoryStorage) -> None:
    asset_id = verified(broker, memory, data=b"just text, not an image")
    asset = broker.get_asset(asset_id)
    assert asset.state is AssetState.QUARANTINED
    assert broker.delete_asset(asset_id).state is AssetState.DELETED
    assert asset.storage_key not in memory.objects


def test_a_failed_object_delete_is_retried_by_the_next_call(
    broker: Broker, memory: MemoryStorage, transitions: Transitions
) -> None:
    asset_id = verified(broker, memory)
    key = broker.get_asset(asset_id).storage_key
    transitions.seen.clear()
    memory.faults["delete"] = StorageUnavailable("storage is down")
    with pytest.raises(StorageUnavailable):
        broker.delete_asset(asset_id)
    pending = broker.get_asset(asset_id)
    assert pending.state is AssetState.DELETED  # deleted from the first call on
    assert pending.stored_version is not None  # … its object's delete still owed
    assert key in memory.objects
    assert broker.delete_asset(asset_id).stored_version is None
    assert key not in memory.objects
    assert transitions.seen == [(asset_id, "available", "deleted")]  # one transition


def test_an_abandoned_asset_is_deleted_without_asking_storage(
    broker: Broker, memory: MemoryStorage
) -> None:
    session = broker.initiate_session("images", filename="a.png", content_type="image/png")
    broker.abort_session(session.id)
    assert broker.get_asset(session.asset_id).state is AssetState.ABANDONED
    memory.calls.clear()
    assert broker.delete_asset(session.asset_id).state is AssetState.DELETED
    assert memory.calls == []


def test_an_asset_on_its_way_is_not_deleted(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    worker = make_broker(job_mode="worker")
    staged = worker.initiate_session("images", filename="a.png", content_type="image/png")
    with pytest.raises(InvalidTransition) as info:
        worker.delete_asset(staged.asset_id)
    assert (info.value.from_state, info.value.to_state) == ("staged", "deleted")
    worker.sign_url(staged.id)
    memory.client_put(staged.storage_key, PNG, "image/png")
    validating = worker.verify_completion(staged.id).asset
    assert validating.state is AssetState.VALIDATING  # the promotion job is pending
    with pytest.raises(InvalidTransition):
        worker.delete_asset(validating.id)
    assert worker.get_asset(validating.id).state is AssetState.VALIDATING


@pytest.fixture
def make_broker(
    any_db: Database, memory: MemoryStorage, pm: pluggy.PluginManager
) -> Callable[..., Broker]:
    return broker_factory(any_db, memory, pm)


# -- sweeps of old quarantined and abandoned assets --------------------------------------


class Clock:
    # Starts at the real time: promotion (which quarantines) stamps its rows
    # with the real clock, not the broker's.
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def swept(make_broker: Callable[..., Broker], clock: Clock) -> Broker:
    return make_broker(job_mode="inline", clock=clock)


def quarantined(broker: Broker, memory: MemoryStorage) -> str:
    return verified(broker, memory, data=b"text that claims to be a PNG")


def abandoned(broker: Broker) -> str:
    session = broker.initiate_session("images", filename="a.png", content_type="image/png")
    broker.abort_session(session.id)
    return session.asset_id


MONTH = dt.timedelta(days=30)


def touch(broker: Broker, asset_id: str, when: dt.datetime) -> None:
    with broker.database.transaction() as conn:
        conn.execute(
            sa.update(assets_table).where(assets_table.c.id == asset_id).values(updated_at=when)
        )


def test_old_quarantined_and_abandoned_assets_are_swept(
    swept: Broker, memory: MemoryStorage, clock: Clock, transitions: Transitions
) -> None:
    old_q = [quarantined(swept, memory) for _ in range(3)]
    old_a = [abandoned(swept) for _ in range(2)]
    clock.now += dt.timedelta(days=20)
    young_q, young_a = quarantined(swept, memory), abandoned(swept)
    touch(swept, young_q, clock.now)  # quarantined 20 days after the others
    available = verified(swept, memory)
    clock.now += dt.timedelta(days=11)
    transitions.seen.clear()
    report = swept.sweep_assets(quarantined_after=MONTH, abandoned_after=MONTH, batch_size=2)
    assert (report.quarantined_deleted, report.abandoned_deleted) == (3, 2)
    assert (report.objects_deleted, report.object_failures) == (3, 0)
    assert report.batches == 2 + 1 + 1 + 1  # 2+1 quarantined, then none; 2 abandoned, then none
    state = {a: swept.get_asset(a).state for a in [*old_q, *old_a, young_q, young_a, available]}
    assert {state[a] for a in old_q + old_a} == {AssetState.DELETED}
    assert state[young_q] is AssetState.QUARANTINED
    assert state[young_a] is AssetState.ABANDONED
    assert state[available] is AssetState.AVAILABLE
    assert all(swept.get_asset(a).storage_key not in memory.objects for a in old_q)
    assert swept.get_asset(young_q).storage_key in memory.objects
    assert sorted(transitions.seen) == sorted(
        [(a, "quarantined", "deleted") for a in old_q]
        + [(a, "abandoned", "deleted") for a in old_a]
    )
    again = swept.sweep_assets(quarantined_after=MONTH, abandoned_after=MONTH)
    assert (again.quarantined_deleted, again.abandoned_deleted, again.objects_deleted) == (0, 0, 0)


def test_a_failed_object_delete_is_retried_by_a_later_sweep(
    swept: Broker, memory: MemoryStorage, clock: Clock
) -> None:
    asset_id = quarantined(swept, memory)
    key = swept.get_asset(asset_id).storage_key
    clock.now += dt.timedelta(days=31)
    memory.faults["delete"] = StorageUnavailable("storage is down")
    first = swept.sweep_assets(quarantined_after=MONTH)
    assert (first.quarantined_deleted, first.objects_deleted, first.object_failures) == (1, 0, 1)
    assert swept.get_asset(asset_id).state is AssetState.DELETED
    assert key in memory.objects
    # The same run never takes it twice; the next run (later) retries it.
    clock.now += dt.timedelta(minutes=5)
    second = swept.sweep_assets(quarantined_after=MONTH)
    assert (second.quarantined_deleted, second.objects_deleted, second.object_failures) == (0, 1, 0)
    assert key not in memory.objects
    assert swept.get_asset(asset_id).stored_version is None


def test_nothing_is_swept_without_an_age(
    swept: Broker, memory: MemoryStorage, clock: Clock
) -> None:
    asset_id = quarantined(swept, memory)
    clock.now += dt.timedelta(days=365)
    assert swept.sweep_assets() == AssetSweepReport()
    assert swept.get_asset(asset_id).state is AssetState.QUARANTINED


@pytest.mark.parametrize(
    "arguments",
    [
        {"quarantined_after": dt.timedelta(minutes=1)},
        {"abandoned_after": 30},
        {"quarantined_after": MONTH, "batch_size": 0},
    ],
)
def test_bad_sweep_arguments_are_refused(swept: Broker, arguments: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        swept.sweep_assets(**arguments)  # type: ignore[arg-type]
