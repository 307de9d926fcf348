"""The schema check every command runs gives Alembic's answers without importing Alembic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from rindle_core import Database
from rindle_core._schema_version import applied_revision, shipped_head


def test_the_shipped_head_is_alembics(sqlite_db: Database) -> None:
    script = ScriptDirectory.from_config(sqlite_db.alembic_config())
    assert shipped_head() == script.get_current_head()
    assert shipped_head() is not None


@pytest.mark.parametrize("revision", [None, "0002", "head"])
def test_the_applied_revision_is_alembics(any_db: Database, revision: str | None) -> None:
    if revision is not None:
        command.stamp(any_db.alembic_config(), revision)
    expected = {None: None, "head": shipped_head()}.get(revision, revision)
    assert applied_revision(any_db) == any_db.schema_revision() == expected


def test_a_stale_schema_is_named_and_a_current_one_passes(tmp_path: Path) -> None:
    from rindle_core.config import schema_problem

    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    db.upgrade()
    assert schema_problem(db) is None
    command.stamp(db.alembic_config(), "0002")
    problem = schema_problem(db)
    assert problem is not None
    assert f"at revision 0002, this rindle needs {shipped_head()}" in problem
    db.dispose()


def test_checking_the_schema_imports_no_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    Database(url).upgrade()
    code = (
        "import sys\n"
        "from rindle_core import Database\n"
        "from rindle_core.config import schema_problem\n"
        f"assert schema_problem(Database({url!r})) is None\n"
        "assert 'alembic' not in sys.modules, 'alembic imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
