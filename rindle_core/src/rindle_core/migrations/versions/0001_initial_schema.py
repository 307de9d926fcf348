"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 11:23:36.161493
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

#: UTC timestamps; MySQL's DATETIME keeps microseconds only when told to.
_TS = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _exact_text() -> dict[str, Any]:
    """Table options: on MySQL/MariaDB, text compares exactly (binary, no pad).

    Their default collations ignore case and trailing spaces, so a storage
    key, owner or token would match another that differs only in those.
    """
    dialect = op.get_bind().dialect
    if dialect.name not in ("mysql", "mariadb"):
        return {}
    mariadb = bool(getattr(dialect, "is_mariadb", False))
    collation = "utf8mb4_nopad_bin" if mariadb else "utf8mb4_0900_bin"
    return {f"{dialect.name}_charset": "utf8mb4", f"{dialect.name}_collate": collation}


def upgrade() -> None:
    
    op.create_table('rindle_assets',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('profile', sa.String(length=63), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('storage', sa.String(length=63), nullable=False),
    sa.Column('storage_key', sa.String(length=512), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('declared_content_type', sa.String(length=255), nullable=True),
    sa.Column('content_type', sa.String(length=255), nullable=True),
    sa.Column('byte_size', sa.BigInteger(), nullable=True),
    sa.Column('quarantine_reason', sa.Text(), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('created_at', _TS, nullable=False),
    sa.Column('updated_at', _TS, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rindle_assets')),
    sa.UniqueConstraint('storage_key', name=op.f('uq_rindle_assets_storage_key')),
    **_exact_text()
    )
    with op.batch_alter_table('rindle_assets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rindle_assets_state'), ['state'], unique=False)

    op.create_table('rindle_jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=63), nullable=False),
    sa.Column('dedupe_key', sa.String(length=255), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('run_at', _TS, nullable=False),
    sa.Column('locked_until', _TS, nullable=True),
    sa.Column('locked_by', sa.String(length=255), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', _TS, nullable=False),
    sa.Column('updated_at', _TS, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rindle_jobs')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_rindle_jobs_dedupe_key')),
    **_exact_text()
    )
    with op.batch_alter_table('rindle_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_rindle_jobs_state_run_at', ['state', 'run_at'], unique=False)

    op.create_table('rindle_upload_sessions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('asset_id', sa.String(length=36), nullable=False),
    sa.Column('profile', sa.String(length=63), nullable=False),
    sa.Column('storage', sa.String(length=63), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('upload_key', sa.String(length=512), nullable=False),
    sa.Column('upload_strategy', sa.String(length=16), nullable=False),
    sa.Column('content_type', sa.String(length=255), nullable=False),
    sa.Column('declared_size', sa.BigInteger(), nullable=True),
    sa.Column('expires_at', _TS, nullable=False),
    sa.Column('verified_at', _TS, nullable=True),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('multipart_upload_id', sa.String(length=1024), nullable=True),
    sa.Column('part_size', sa.BigInteger(), nullable=True),
    sa.Column('committed_bytes', sa.BigInteger(), nullable=False),
    sa.Column('session_uri', sa.Text(), nullable=True),
    sa.Column('session_uri_expires_at', _TS, nullable=True),
    sa.Column('remote_cleanup', sa.String(length=16), nullable=True),
    sa.Column('created_at', _TS, nullable=False),
    sa.Column('updated_at', _TS, nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['rindle_assets.id'], name=op.f('fk_rindle_upload_sessions_asset_id_rindle_assets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rindle_upload_sessions')),
    **_exact_text()
    )
    with op.batch_alter_table('rindle_upload_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rindle_upload_sessions_asset_id'), ['asset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rindle_upload_sessions_profile'), ['profile'], unique=False)
        batch_op.create_index('ix_rindle_upload_sessions_remote_cleanup', ['remote_cleanup'], unique=False)
        batch_op.create_index('ix_rindle_upload_sessions_state_expires_at', ['state', 'expires_at'], unique=False)

    op.create_table('rindle_upload_parts',
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('part_number', sa.Integer(), nullable=False),
    sa.Column('etag', sa.String(length=255), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['rindle_upload_sessions.id'], name=op.f('fk_rindle_upload_parts_session_id_rindle_upload_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', 'part_number', name=op.f('pk_rindle_upload_parts')),
    **_exact_text()
    )
    


def downgrade() -> None:
    
    op.drop_table('rindle_upload_parts')
    # MySQL refuses to drop the index a foreign key uses; dropping the table drops both.
    if op.get_bind().dialect.name not in ("mysql", "mariadb"):
        with op.batch_alter_table('rindle_upload_sessions', schema=None) as batch_op:
            batch_op.drop_index('ix_rindle_upload_sessions_state_expires_at')
            batch_op.drop_index('ix_rindle_upload_sessions_remote_cleanup')
            batch_op.drop_index(batch_op.f('ix_rindle_upload_sessions_profile'))
            batch_op.drop_index(batch_op.f('ix_rindle_upload_sessions_asset_id'))

    op.drop_table('rindle_upload_sessions')
    with op.batch_alter_table('rindle_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_rindle_jobs_state_run_at')

    op.drop_table('rindle_jobs')
    with op.batch_alter_table('rindle_assets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rindle_assets_state'))

    op.drop_table('rindle_assets')
    
