"""The Alembic recipes in docs/migrations.md, run as written.

Each recipe's ``migrations/env.py`` is read out of the page itself and
dropped into a project made by ``alembic init``, with a host model of its
own; the ``alembic`` command line then runs in a subprocess, as a host app's
developer would run it, on SQLite and on a PostgreSQL schema of its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from pg_schema import own_schema, schema_url

from rindle_core import Database
from rindle_core.db import metadata

DOC = Path(__file__).resolve().parent.parent / "docs" / "migrations.md"
ENV_PY = re.compile(r'^```python title="migrations/env\.py"\n(.*?)^```$', re.M | re.S)

MODELS = """\
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "app_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
"""

RINDLE_TABLES = {t.name for t in metadata.sorted_tables}


def _recipes() -> list[str]:
    blocks = ENV_PY.findall(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 2, "docs/migrations.md: expected two env.py recipes"
    return blocks


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL for an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
        return
    request.applymarker(pytest.mark.postgres)
    base: str = request.getfixturevalue("postgres_url")
    with own_schema(base, "rindle_recipe") as schema:
        yield schema_url(base, schema)


class Project:
    """``alembic init migrations`` plus a host model and the recipe's env.py."""

    def __init__(self, root: Path, url: str, env_py: str) -> None:
        self.root = root
        self.url = url
        root.mkdir()
        # `alembic init migrations`, in-process (it runs no env.py).
        command.init(Config(str(root / "alembic.ini")), str(root / "migrations"))
        ini = root / "alembic.ini"
        text = ini.read_text(encoding="utf-8")
        # alembic.ini is read with interpolation: a literal % is written %%.
        text, n = re.subn(
            r"^sqlalchemy\.url = .*$",
            lambda _: "sqlalchemy.url = " + url.replace("%", "%%"),
            text,
            flags=re.M,
        )
        assert n == 1
        ini.write_text(text, encoding="utf-8")
        (root / "myapp").mkdir()
        (root / "myapp" / "__init__.py").write_text("", encoding="utf-8")
        (root / "myapp" / "models.py").write_text(MODELS, encoding="utf-8")
        (root / "migrations" / "env.py").write_text(env_py, encoding="utf-8")

    def alembic(self, *args: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RINDLE_")}
        env["PYTHONPATH"] = str(self.root)
        done = subprocess.run(
            [sys.executable, "-m", "alembic", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout + done.stderr

    def revisions(self) -> list[str]:
        return [
            p.read_text(encoding="utf-8")
            for p in (self.root / "migrations" / "versions").glob("*.py")
        ]

    def tables(self) -> set[str]:
        engine = sa.create_engine(self.url)
        try:
            return set(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()


def _rindle_schema_matches_models(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, _: kind != "table" or name in RINDLE_TABLES,
                },
            )
            assert compare_metadata(ctx, metadata) == []
    finally:
        engine.dispose()


def test_two_histories_one_upgrade(tmp_path: Path, database_url: str) -> None:
    project = Project(tmp_path / "app", database_url, _recipes()[0])

    project.alembic("revision", "--autogenerate", "-m", "app")
    (revision,) = project.revisions()
    assert "app_items" in revision and "rindle_" not in revision
    # env.py runs for every command; only `upgrade` applies rindle's history.
    project.alembic("current")
    assert not project.tables() & RINDLE_TABLES

    project.alembic("upgrade", "head")  # crashed with KeyError: 'script'
    assert {"app_items", "alembic_version", "rindle_alembic_version"} | RINDLE_TABLES <= (
        project.tables()
    )
    db = Database(database_url)
    try:
        assert db.schema_revision() == db.head_revision() is not None
    finally:
        db.dispose()
    _rindle_schema_matches_models(database_url)

    project.alembic("check")  # rindle's tables are not the host's to autogenerate
    project.alembic("upgrade", "head")  # again: nothing to do, no error


def test_rindle_tables_in_the_host_history(tmp_path: Path, database_url: str) -> None:
    project = Project(tmp_path / "app", database_url, _recipes()[1])

    project.alembic("revision", "--autogenerate", "-m", "tables")
    (revision,) = project.revisions()
    assert "app_items" in revision and "rindle_upload_sessions" in revision
    assert "UTCDateTime" not in revision and "sa.DateTime(timezone=True)" in revision

    project.alembic("upgrade", "head")  # crashed with NameError: rindle_core
    tables = project.tables()
    assert {"app_items", "alembic_version"} | RINDLE_TABLES <= tables
    assert "rindle_alembic_version" not in tables
    _rindle_schema_matches_models(database_url)
    project.alembic("check")

    project.alembic("downgrade", "base")
    assert not project.tables() & RINDLE_TABLES
