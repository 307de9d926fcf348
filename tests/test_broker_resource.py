"""The broker as a resource: close, context manager, read-only views, profiles by name."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pluggy
import pytest
import sqlalchemy as sa

from fakes import MemoryStorage
from rindle_core import Broker, Database, InvalidArgument, JobOutcome, Profile, UnknownProfile


def test_close_closes_every_adapter_once_and_disposes_an_owned_pool(
    tmp_path: Path, memory: MemoryStorage, pm: pluggy.PluginManager
) -> None:
    other = MemoryStorage()
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    db.create_all()
    with Broker(
        db,
        profiles=[Profile(name="a", storage="one"), Profile(name="b", storage="two")],
        storages={"one": memory, "two": other},
        plugin_manager=pm,
    ) as broker:
        assert broker.list_sessions() == []
    assert (memory.closed, other.closed) == (1, 1)
    broker.close()  # idempotent
    assert (memory.closed, other.closed) == (1, 1)
    assert db.owns_engine


def test_close_leaves_a_host_engine_alone(
    tmp_path: Path, memory: MemoryStorage, pm: pluggy.PluginManager
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'host.db'}")
    db = Database(engine)
    db.create_all()
    assert not db.owns_engine
    Broker(
        db, profiles=[Profile(name="a", storage="m")], storages={"m": memory}, plugin_manager=pm
    ).close()
    with engine.connect() as conn:  # the host's engine still works
        assert conn.execute(sa.text("select 1")).scalar() == 1


def test_one_failing_adapter_close_does_not_keep_the_others_open(
    sqlite_db: Database, pm: pluggy.PluginManager
) -> None:
    class Failing(MemoryStorage):
        def close(self) -> None:
            raise RuntimeError("socket already gone")

    good = MemoryStorage()
    broker = Broker(
        sqlite_db,
        profiles=[Profile(name="a", storage="bad"), Profile(name="b", storage="good")],
        storages={"bad": Failing(), "good": good},
        plugin_manager=pm,
    )
    broker.close()
    assert good.closed == 1


def test_views_are_read_only(broker: Broker) -> None:
    with pytest.raises(TypeError):
        broker.profiles["x"] = Profile(name="x", storage="mem")  # type: ignore[index]
    with pytest.raises(TypeError):
        broker.storages["x"] = MemoryStorage()  # type: ignore[index]
    with pytest.raises(AttributeError):
        broker.jobs = None  # type: ignore[misc]
    with pytest.raises(AttributeError):
        broker.maintenance = None  # type: ignore[misc]


def test_a_profile_object_that_differs_from_the_registered_one_is_refused(
    broker: Broker,
) -> None:
    impostor = Profile(name="images", storage="mem", allow_mime=["text/html"])
    with (
        pytest.warns(DeprecationWarning, match="profile's name"),
        pytest.raises(InvalidArgument, match="differs from the registered"),
    ):
        broker.initiate_session(impostor, filename="a.html", content_type="text/html")


def test_the_registered_profile_object_still_works_with_a_warning(broker: Broker) -> None:
    registered = broker.profiles["any"]
    with pytest.warns(DeprecationWarning, match="profile's name"):
        session = broker.initiate_session(
            registered, filename="a.bin", content_type="application/octet-stream"
        )
    assert session.profile == "any"


def test_names_work_without_a_warning(broker: Broker) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        broker.initiate_session("any", filename="a.bin", content_type="application/octet-stream")
    with pytest.raises(UnknownProfile):
        broker.initiate_session("nope", filename="a.bin", content_type="text/plain")


def test_run_jobs_returns_typed_outcomes(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    broker = make_broker(job_mode="worker")
    session = broker.initiate_session("any", filename="a.txt", content_type="text/plain", size=2)
    broker.sign_url(session.id)
    memory.client_put(session.storage_key, b"hi", "text/plain")
    broker.verify_completion(session.id)
    outcomes = broker.run_jobs()
    assert [type(o) for o in outcomes] == [JobOutcome]
    assert outcomes[0].result == "succeeded"
