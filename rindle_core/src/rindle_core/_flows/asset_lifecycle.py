"""The end of an asset's life: ``delete_asset``, and sweeps of old quarantined and unused assets.

``delete_asset`` moves an asset to ``deleted`` and removes its object.

The move is a compare-and-set on the asset's state, committed (and its
event emitted) **before** storage is asked to delete the object, so a
deletion is never undone by a failure halfway: the asset is ``deleted`` from
the moment the call is accepted, downloads are refused from then on, and
``stored_version`` stays set until the object's delete succeeded. Calling
``delete_asset`` again on a ``deleted`` asset retries the object's delete
(deleting what is gone already is a success), so the call is idempotent.
(An object whose adapter reported no version at verification leaves no
``stored_version`` to keep: a failed delete of it is not retried.)

An ``abandoned`` asset never had a verified object; what a late client may
have stored under its key is the session maintenance's to remove (the final
sweep), so its delete asks storage nothing.

:meth:`AssetLifecycle.sweep` does the same in batches for ``quarantined``
and ``abandoned`` (never used) assets untouched for longer than the ages
given: each batch is picked ``FOR UPDATE SKIP LOCKED`` where the database
has it and moved by one ``UPDATE`` guarded by the state, events after the
commit, then the quarantined ones' objects are deleted (no transaction
open) and marked gone in one statement. Each run also retries the object
deletes still owed by assets deleted before it started.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Final

import attrs
from sqlalchemy import Connection, select, update

from .. import _maintenance_batch as batch
from .._errors import InvalidArgument, InvalidTransition
from .._session_store import SessionStore
from .._telemetry import Telemetry, asset_event
from ..db import Database, assets_table
from ..db._repo import asset_from_row, cas_asset
from ..models import Asset, _jsonable
from ..states import ASSET_TRANSITIONS, AssetState, transition
from ..storage import StorageAdapter

__all__ = ["AssetLifecycle", "AssetSweepReport"]

_assets = assets_table
#: States an asset may be deleted from (the state table allows ``-> deleted``).
DELETABLE: Final = frozenset(s for s, to in ASSET_TRANSITIONS.items() if AssetState.DELETED in to)
_MIN_AGE: Final = dt.timedelta(hours=1)
_MAX_AGE: Final = dt.timedelta(days=3650)


@attrs.frozen
class AssetSweepReport:
    """What a sweep did: assets moved to ``deleted``, objects deleted, object deletes failed."""

    quarantined_deleted: int = 0
    abandoned_deleted: int = 0
    objects_deleted: int = 0
    object_failures: int = 0
    batches: int = 0

    def __add__(self, other: AssetSweepReport) -> AssetSweepReport:
        return AssetSweepReport(
            *(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other), strict=True))
        )

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return _jsonable(attrs.asdict(self, recurse=False))


class AssetLifecycle:
    """Deletes assets; see the module's docstring."""

    def __init__(
        self,
        database: Database,
        store: SessionStore,
        *,
        storage_for: Callable[[str], StorageAdapter],
        telemetry: Telemetry,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._db = database
        self._store = store
        self._storage_for = storage_for
        self._telemetry = telemetry
        self._clock = clock

    def delete(self, asset_id: str) -> Asset:
        """Move the asset to ``deleted`` (if it is not yet), then delete its object.

        Raises :class:`~rindle_core.InvalidTransition` for an asset still on
        its way (``staged`` to ``promoting``): abort its session instead, or
        wait for it to settle. A storage error while deleting the object is
        raised after the asset is ``deleted``; call again to retry.
        """
        asset = self._store.get_asset(asset_id)
        if asset.state is AssetState.DELETED:
            if asset.stored_version is None:
                return asset  # its object's delete succeeded before
        else:
            abandoned = asset.state is AssetState.ABANDONED
            asset = self._move(asset)
            if abandoned:
                return asset  # no verified object: the session's final sweep owns the key
        self._storage_for(asset.profile).delete(asset.storage_key)
        with self._db.transaction() as conn:
            conn.execute(
                update(_assets)
                .where(
                    _assets.c.id == asset.id,
                    _assets.c.state == AssetState.DELETED.value,
                    _assets.c.stored_version == asset.stored_version,
                )
                .values(stored_version=None, updated_at=self._clock())
            )
        return self._store.get_asset(asset_id)

    def _move(self, asset: Asset) -> Asset:
        if asset.state not in DELETABLE:
            raise InvalidTransition(asset.state.value, AssetState.DELETED.value, machine="asset")
        now = self._clock()
        with self._db.transaction() as conn:
            moved = cas_asset(conn, asset.id, asset.state, AssetState.DELETED, now)
        if moved is None:  # another writer moved it first: decide again on what it is now
            current = self._store.get_asset(asset.id)
            if current.state is AssetState.DELETED:
                return current
            raise InvalidTransition(current.state.value, AssetState.DELETED.value, machine="asset")
        self._telemetry.emit([asset_event(moved, asset.state.value, AssetState.DELETED.value)])
        return moved

    # -- sweeps ------------------------------------------------------------------------

    def sweep(
        self,
        *,
        quarantined_after: dt.timedelta | None = None,
        abandoned_after: dt.timedelta | None = None,
        batch_size: int = 1000,
        now: dt.datetime | None = None,
    ) -> AssetSweepReport:
        """Delete ``quarantined`` and ``abandoned`` assets untouched for longer than
        the ages given (None: not that state), batch after batch; then retry
        the object deletes owed by assets deleted before this run."""
        for name, age in (
            ("quarantined_after", quarantined_after),
            ("abandoned_after", abandoned_after),
        ):
            if age is not None and not (
                isinstance(age, dt.timedelta) and _MIN_AGE <= age <= _MAX_AGE
            ):
                raise InvalidArgument(f"{name} must be between 1 hour and 3650 days")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgument("batch_size must be a positive integer")
        # The retries take what was deleted before the run began by the clock
        # every write uses, so a row that fails again now is not taken twice.
        start = self._clock()
        ages_from = now or start
        report = AssetSweepReport()
        for state, age in (
            (AssetState.QUARANTINED, quarantined_after),
            (AssetState.ABANDONED, abandoned_after),
        ):
            if age is None:
                continue
            while True:
                moved = self._sweep_batch(state, ages_from - age, batch_size)
                deleted, failed = (
                    self._remove_objects(moved) if state is AssetState.QUARANTINED else (0, 0)
                )
                report += AssetSweepReport(
                    quarantined_deleted=len(moved) if state is AssetState.QUARANTINED else 0,
                    abandoned_deleted=len(moved) if state is AssetState.ABANDONED else 0,
                    objects_deleted=deleted,
                    object_failures=failed,
                    batches=1,
                )
                if not moved:
                    break
        while True:  # object deletes owed from before this run (each tried once per run)
            with self._db.read() as conn:
                owed = [
                    asset_from_row(r)
                    for r in conn.execute(
                        select(_assets)
                        .where(
                            _assets.c.state == AssetState.DELETED.value,
                            _assets.c.stored_version.is_not(None),
                            _assets.c.updated_at < start,
                        )
                        .order_by(_assets.c.updated_at, _assets.c.id)
                        .limit(batch_size)
                    )
                ]
            if not owed:
                return report
            deleted, failed = self._remove_objects(owed)
            report += AssetSweepReport(objects_deleted=deleted, object_failures=failed)

    def _sweep_batch(self, state: AssetState, cutoff: dt.datetime, limit: int) -> list[Asset]:
        """Move one batch of *state* assets older than *cutoff* to ``deleted``."""
        transition(state, AssetState.DELETED)
        now = self._clock()
        with self._db.transaction() as conn:
            picked = list(
                conn.execute(
                    batch.skip_locked(
                        select(_assets.c.id)
                        .where(_assets.c.state == state.value, _assets.c.updated_at < cutoff)
                        .order_by(_assets.c.updated_at, _assets.c.id)
                        .limit(limit),
                        conn,
                    )
                ).scalars()
            )
            if not picked:
                return []
            stmt = (
                update(_assets)
                .where(batch.among(conn, _assets.c.id, picked), _assets.c.state == state.value)
                .values(state=AssetState.DELETED.value, updated_at=now)
            )
            moved = [asset_from_row(r) for r in batch.updated_rows(conn, stmt, _assets, picked)]
        self._telemetry.emit([asset_event(a, state.value, AssetState.DELETED.value) for a in moved])
        return moved

    def _remove_objects(self, assets: Sequence[Asset]) -> tuple[int, int]:
        """Delete the objects of deleted *assets* (no transaction open); mark the
        ones gone. Returns (deleted, failed); a failure is logged by type and
        pushes the asset behind the others (``updated_at``)."""
        gone: list[Asset] = []
        failed: list[str] = []
        for asset in assets:
            try:
                self._storage_for(asset.profile).delete(asset.storage_key)
            except Exception as exc:  # one object never stops the sweep
                failed.append(asset.id)
                self._telemetry.log(
                    "rindle.assets.delete_failed", asset_id=asset.id, error=type(exc).__name__
                )
                continue
            gone.append(asset)
        now = self._clock()
        with self._db.transaction() as conn:
            if gone:
                _mark_gone(conn, gone, now)
            if failed:
                conn.execute(
                    update(_assets)
                    .where(
                        batch.among(conn, _assets.c.id, failed),
                        _assets.c.state == AssetState.DELETED.value,
                    )
                    .values(updated_at=now)
                )
        return len(gone), len(failed)


def _mark_gone(conn: Connection, assets: Sequence[Asset], now: dt.datetime) -> None:
    """``stored_version = NULL`` on deleted assets whose object's delete succeeded."""
    conn.execute(
        update(_assets)
        .where(
            batch.among(conn, _assets.c.id, [a.id for a in assets]),
            _assets.c.state == AssetState.DELETED.value,
        )
        .values(stored_version=None, updated_at=now)
    )
