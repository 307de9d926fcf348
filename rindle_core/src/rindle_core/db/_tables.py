"""rindle's tables, on rindle's own :data:`metadata`.

A host app that runs its own Alembic history includes them with
``target_metadata = [app_metadata, rindle_core.db.metadata]`` (see
docs/migrations.md); otherwise ``rindle db upgrade`` applies the packaged
migrations.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AssetRow",
    "Base",
    "JobRow",
    "PartRow",
    "SessionRow",
    "assets_table",
    "jobs_table",
    "metadata",
    "parts_table",
    "sessions_table",
]

#: Constraint names are deterministic so migrations can refer to them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


_ID = String(36)


class Base(DeclarativeBase):
    metadata = metadata


class AssetRow(Base):
    __tablename__ = "rindle_assets"

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    profile: Mapped[str] = mapped_column(String(63))
    state: Mapped[str] = mapped_column(String(16), index=True)
    storage: Mapped[str] = mapped_column(String(63))
    storage_key: Mapped[str] = mapped_column(String(512), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    declared_content_type: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(255))
    byte_size: Mapped[int | None] = mapped_column(BigInteger)
    quarantine_reason: Mapped[str | None] = mapped_column(Text)
    #: The stored object's fingerprint recorded at verification
    #: (:attr:`HeadResult.version`); promotion and downloads are bound to it.
    stored_version: Mapped[str | None] = mapped_column(String(1024))
    #: The type storage serves the object with, seen at verification.
    served_content_type: Mapped[str | None] = mapped_column(String(255))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    #: Who the upload was for (the session's owner), as the host identifies them.
    owner: Mapped[str | None] = mapped_column(String(255))
    #: The caller's metadata given at initiate (``metadata`` is rindle's own).
    client_metadata: Mapped[dict[str, object]] = mapped_column(
        JSON, default=dict, server_default="{}"
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_rindle_assets_owner_created_at", "owner", "created_at"),)


class SessionRow(Base):
    __tablename__ = "rindle_upload_sessions"

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    asset_id: Mapped[str] = mapped_column(_ID, ForeignKey("rindle_assets.id"), index=True)
    profile: Mapped[str] = mapped_column(String(63), index=True)
    storage: Mapped[str] = mapped_column(String(63))
    state: Mapped[str] = mapped_column(String(16))
    upload_key: Mapped[str] = mapped_column(String(512))
    upload_strategy: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(255))
    declared_size: Mapped[int | None] = mapped_column(BigInteger)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    multipart_upload_id: Mapped[str | None] = mapped_column(String(1024))
    part_size: Mapped[int | None] = mapped_column(BigInteger)
    committed_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    #: A bearer credential: never logged (the snapshot's repr hides it).
    session_uri: Mapped[str | None] = mapped_column(Text)
    session_uri_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: "pending" while a remote abort/cancel/delete after expiry still has to succeed.
    remote_cleanup: Mapped[str | None] = mapped_column(String(16))
    #: When the last URL signed for the session expires, recorded where a URL
    #: could still change the completed object (Azure part URLs).
    urls_expire_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: When the next remote cleanup attempt is due (backoff, final sweep).
    cleanup_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Remote cleanup attempts that failed so far.
    cleanup_attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Who the upload is for, as the host identifies them (its user or tenant id).
    owner: Mapped[str | None] = mapped_column(String(255))
    #: The caller's own data about the upload, given at initiate (a JSON object).
    client_metadata: Mapped[dict[str, object]] = mapped_column(
        JSON, default=dict, server_default="{}"
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_rindle_upload_sessions_state_expires_at", "state", "expires_at"),
        Index("ix_rindle_upload_sessions_remote_cleanup", "remote_cleanup", "cleanup_at"),
        Index("ix_rindle_upload_sessions_owner_created_at", "owner", "created_at"),
    )


class PartRow(Base):
    """The part ledger: parts a client reported or the backend listed."""

    __tablename__ = "rindle_upload_parts"

    session_id: Mapped[str] = mapped_column(
        _ID, ForeignKey("rindle_upload_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    part_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    etag: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(BigInteger)


class JobRow(Base):
    """The transactional outbox."""

    __tablename__ = "rindle_jobs"

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(63))
    #: One job per key (e.g. ``promote:<asset id>``): enqueueing twice is a no-op.
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(255))
    #: A fresh token per claim: only the claim that holds it may renew the
    #: lease or record the outcome.
    claim_token: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_rindle_jobs_state_run_at", "state", "run_at"),)


#: The Core tables, typed for ``insert``/``update`` statements.
assets_table = cast(Table, AssetRow.__table__)
sessions_table = cast(Table, SessionRow.__table__)
parts_table = cast(Table, PartRow.__table__)
jobs_table = cast(Table, JobRow.__table__)
