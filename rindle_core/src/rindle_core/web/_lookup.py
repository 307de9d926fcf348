"""Find the session that uploads to a storage key (Uppy's single-file path hands
back nothing but the key).

One indexed read through :mod:`rindle_core.db`'s public tables: an asset's
``storage_key`` is unique, and a session points at its asset. The caller
still authorizes the session it finds, as for any other id.
"""

from __future__ import annotations

from sqlalchemy import select

from .._broker import Broker
from ..db import assets_table, sessions_table

__all__ = ["session_id_for_key"]


def session_id_for_key(broker: Broker, key: str) -> str | None:
    """The id of the newest session uploading to *key*, or None."""
    if not key or len(key) > 1024:
        return None
    asset = select(assets_table.c.id).where(assets_table.c.storage_key == key).scalar_subquery()
    query = (
        select(sessions_table.c.id)
        .where(sessions_table.c.asset_id == asset)
        .order_by(sessions_table.c.created_at.desc())
        .limit(1)
    )
    with broker.database.read() as conn:
        found = conn.execute(query).scalar_one_or_none()
    return None if found is None else str(found)
