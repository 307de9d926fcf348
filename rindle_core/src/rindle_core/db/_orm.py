"""ORM row classes mapped onto rindle's Core tables, for host apps and tests.

rindle itself runs Core statements against the tables in ``_tables``; this
module (and ``sqlalchemy.orm`` with it) is imported only when a caller asks
``rindle_core.db`` for one of these classes. The classes declare no columns
of their own (``__table__``), so Alembic sees the same :data:`metadata`
whether or not they are loaded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped, column_property

from ._tables import assets_table, jobs_table, parts_table, sessions_table, with_partial_indexes

__all__ = ["AssetRow", "Base", "JobRow", "PartRow", "SessionRow"]


class Base(DeclarativeBase):
    metadata = with_partial_indexes()


class AssetRow(Base):
    __table__ = assets_table
    __tablename__ = assets_table.name

    id: Mapped[str]
    profile: Mapped[str]
    state: Mapped[str]
    storage: Mapped[str]
    storage_key: Mapped[str]
    filename: Mapped[str]
    declared_content_type: Mapped[str | None]
    content_type: Mapped[str | None]
    byte_size: Mapped[int | None]
    quarantine_reason: Mapped[str | None]
    stored_version: Mapped[str | None]
    served_content_type: Mapped[str | None]
    #: The ``metadata`` column (the name is taken on a declarative class).
    metadata_: Mapped[dict[str, Any]] = column_property(assets_table.c.metadata)
    owner: Mapped[str | None]
    client_metadata: Mapped[dict[str, object]]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class SessionRow(Base):
    __table__ = sessions_table
    __tablename__ = sessions_table.name

    id: Mapped[str]
    asset_id: Mapped[str]
    profile: Mapped[str]
    storage: Mapped[str]
    state: Mapped[str]
    upload_key: Mapped[str]
    upload_strategy: Mapped[str]
    content_type: Mapped[str]
    declared_size: Mapped[int | None]
    expires_at: Mapped[dt.datetime]
    verified_at: Mapped[dt.datetime | None]
    failure_reason: Mapped[str | None]
    multipart_upload_id: Mapped[str | None]
    part_size: Mapped[int | None]
    checksum_algorithm: Mapped[str | None]
    committed_bytes: Mapped[int]
    session_uri: Mapped[str | None]
    session_uri_expires_at: Mapped[dt.datetime | None]
    remote_cleanup: Mapped[str | None]
    urls_expire_at: Mapped[dt.datetime | None]
    cleanup_at: Mapped[dt.datetime | None]
    cleanup_attempts: Mapped[int]
    owner: Mapped[str | None]
    client_metadata: Mapped[dict[str, object]]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class PartRow(Base):
    """The part ledger: parts a client reported or the backend listed."""

    __table__ = parts_table
    __tablename__ = parts_table.name

    session_id: Mapped[str]
    part_number: Mapped[int]
    etag: Mapped[str | None]
    size: Mapped[int | None]


class JobRow(Base):
    """The transactional outbox."""

    __table__ = jobs_table
    __tablename__ = jobs_table.name

    id: Mapped[str]
    kind: Mapped[str]
    dedupe_key: Mapped[str]
    payload: Mapped[dict[str, Any]]
    state: Mapped[str]
    attempts: Mapped[int]
    max_attempts: Mapped[int]
    run_at: Mapped[dt.datetime]
    locked_until: Mapped[dt.datetime | None]
    locked_by: Mapped[str | None]
    claim_token: Mapped[str | None]
    last_error: Mapped[str | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
