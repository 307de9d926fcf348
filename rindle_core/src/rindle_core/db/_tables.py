"""rindle's tables, on rindle's own :data:`metadata`.

A host app that runs its own Alembic history includes them with
``target_metadata = [app_metadata, rindle_core.db.metadata]`` (see
docs/migrations.md); otherwise ``rindle db upgrade`` applies the packaged
migrations.

The tables are SQLAlchemy Core :class:`~sqlalchemy.Table` objects, so that
importing them does not import ``sqlalchemy.orm``; the ORM row classes
(:class:`~rindle_core.db.AssetRow` and the others) are mapped onto them in
``_orm`` and loaded on first use. The two partial indexes are attached by
:func:`with_partial_indexes`, which whatever creates or compares the schema
calls (``rindle_core.db.metadata`` does): their ``postgresql_where`` /
``sqlite_where`` make SQLAlchemy load both dialects, about 0.1 s that a
command which only reads and writes rows never needs.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    event,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from ._dialects import family
from ._mysql import exact_text_tables

__all__ = [
    "EXPIRABLE_STATES",
    "UTCDateTime",
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

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        # MySQL's DATETIME keeps whole seconds unless told otherwise.
        if family(dialect.name) == "mysql":
            from sqlalchemy.dialects import mysql  # loaded only where MySQL is used

            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(self.impl)

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


_ID = String(36)

#: Session states that may still expire (``_maintenance_batch.EXPIRABLE``; a test keeps
#: them equal).
EXPIRABLE_STATES = ("initialized", "signed", "resuming", "uploading")


def _partial(where: str) -> dict[str, Any]:
    """A partial index's predicate where the dialect has them (not MariaDB)."""
    return {"postgresql_where": text(where), "sqlite_where": text(where)}


def _utc(name: str, *, nullable: bool = False) -> Column[dt.datetime]:
    return Column(name, UTCDateTime, nullable=nullable)


def _json_object(name: str) -> Column[Any]:
    """A JSON object column, ``{}`` when not given."""
    return Column(name, JSON, nullable=False, default=dict, server_default="{}")


# Core tables: importing them needs no ``sqlalchemy.orm`` (about 0.3 s of a
# command's start-up, ADR 0119); the ORM row classes live in ``_orm``.
# ``nullable`` is spelled out where the ORM models used to infer it.

assets_table = Table(
    "rindle_assets",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("profile", String(63), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("storage", String(63), nullable=False),
    Column("storage_key", String(512), nullable=False, unique=True),
    Column("filename", String(255), nullable=False),
    Column("declared_content_type", String(255)),
    Column("content_type", String(255)),
    Column("byte_size", BigInteger),
    Column("quarantine_reason", Text),
    #: The stored object's fingerprint recorded at verification
    #: (:attr:`HeadResult.version`); promotion and downloads are bound to it.
    Column("stored_version", String(1024)),
    #: The type storage serves the object with, seen at verification.
    Column("served_content_type", String(255)),
    Column("metadata", JSON, nullable=False, default=dict),
    #: Who the upload was for (the session's owner), as the host identifies them.
    Column("owner", String(255)),
    #: The caller's metadata given at initiate (``metadata`` is rindle's own).
    _json_object("client_metadata"),
    _utc("created_at"),
    _utc("updated_at"),
    Index("ix_rindle_assets_owner_created_at", "owner", "created_at"),
)

sessions_table = Table(
    "rindle_upload_sessions",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("asset_id", _ID, ForeignKey("rindle_assets.id"), nullable=False, index=True),
    Column("profile", String(63), nullable=False, index=True),
    Column("storage", String(63), nullable=False),
    Column("state", String(16), nullable=False),
    Column("upload_key", String(512), nullable=False),
    Column("upload_strategy", String(16), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("declared_size", BigInteger),
    _utc("expires_at"),
    _utc("verified_at", nullable=True),
    Column("failure_reason", Text),
    Column("multipart_upload_id", String(1024)),
    Column("part_size", BigInteger),
    #: The algorithm every part is signed with its checksum in (0005), or NULL.
    Column("checksum_algorithm", String(16)),
    Column("committed_bytes", BigInteger, nullable=False, default=0),
    #: A bearer credential: never logged (the snapshot's repr hides it).
    Column("session_uri", Text),
    _utc("session_uri_expires_at", nullable=True),
    #: "pending" while a remote abort/cancel/delete after expiry still has to succeed.
    Column("remote_cleanup", String(16)),
    #: When the last URL signed for the session expires, recorded where a URL
    #: could still change the completed object (Azure part URLs).
    _utc("urls_expire_at", nullable=True),
    #: When the next remote cleanup attempt is due (backoff, final sweep).
    _utc("cleanup_at", nullable=True),
    #: Remote cleanup attempts that failed so far.
    Column("cleanup_attempts", Integer, nullable=False, default=0),
    #: Who the upload is for, as the host identifies them (its user or tenant id).
    Column("owner", String(255)),
    #: The caller's own data about the upload, given at initiate (a JSON object).
    _json_object("client_metadata"),
    _utc("created_at"),
    _utc("updated_at"),
    Index("ix_rindle_upload_sessions_state_expires_at", "state", "expires_at"),
    Index("ix_rindle_upload_sessions_remote_cleanup", "remote_cleanup", "cleanup_at"),
    Index("ix_rindle_upload_sessions_owner_created_at", "owner", "created_at"),
    Index("ix_rindle_upload_sessions_posts_due", "upload_strategy", "state", "expires_at"),
)


@functools.cache
def with_partial_indexes() -> MetaData:
    """:data:`metadata` with the maintenance candidates' partial indexes (0004),
    each batch reading the head of its index; attached once, on first call."""
    Index(
        "ix_rindle_upload_sessions_expiry_due",
        sessions_table.c.expires_at,
        sessions_table.c.id,
        **_partial(f"state IN ({', '.join(repr(s) for s in EXPIRABLE_STATES)})"),
    )
    Index(
        "ix_rindle_upload_sessions_cleanup_due",
        sessions_table.c.cleanup_at,
        sessions_table.c.id,
        **_partial("remote_cleanup = 'pending'"),
    )
    return metadata


#: The part ledger: parts a client reported or the backend listed.
parts_table = Table(
    "rindle_upload_parts",
    metadata,
    Column(
        "session_id",
        _ID,
        ForeignKey("rindle_upload_sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("part_number", Integer, primary_key=True),
    Column("etag", String(255)),
    Column("size", BigInteger),
)

#: The transactional outbox.
jobs_table = Table(
    "rindle_jobs",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("kind", String(63), nullable=False),
    #: One job per key (e.g. ``promote:<asset id>``): enqueueing twice is a no-op.
    Column("dedupe_key", String(255), nullable=False, unique=True),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    _utc("run_at"),
    _utc("locked_until", nullable=True),
    Column("locked_by", String(255)),
    #: A fresh token per claim: only the claim that holds it may renew the
    #: lease or record the outcome.
    Column("claim_token", String(36)),
    Column("last_error", Text),
    _utc("created_at"),
    _utc("updated_at"),
    Index("ix_rindle_jobs_state_run_at", "state", "run_at"),
)

for _table in metadata.sorted_tables:
    event.listen(_table, "before_create", exact_text_tables)
