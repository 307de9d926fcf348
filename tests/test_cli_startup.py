"""Start-up: what `rindle --version` and `rindle upload` import (ADR 0119).

Each check runs a fresh interpreter and reads its ``sys.modules``: the
version and the command group load no cloud SDK, no SQLAlchemy, no rich and
no httpx; an upload loads only the SDKs of the storages its configuration
names and no ``sqlalchemy.orm`` (rindle runs Core statements; the ORM row
classes load on first access), nor Alembic once the database is migrated. (Times are measured
by benchmarks/bench_upload_client.py, never here.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEAVY = ("boto3", "botocore", "google.cloud", "azure", "rich", "sqlalchemy", "httpx")
SDKS = ("boto3", "botocore", "google.cloud", "google.auth", "azure")


def _loaded(code: str, cwd: Path) -> tuple[list[str], str]:
    """Run *code*, then print which modules of interest it imported."""
    report = textwrap.dedent(
        """
        import json as _json, sys as _sys
        _names = ("boto3", "botocore", "google.cloud", "google.auth", "azure", "rich",
                  "sqlalchemy", "httpx", "rindle_s3._adapter", "rindle_gcs._adapter",
                  "rindle_azure._adapter", "sqlalchemy.orm", "alembic",
                  "sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.mysql",
                  "sqlalchemy.dialects.sqlite", "rindle_core.web._api")
        print("\\nLOADED=" + _json.dumps(sorted(
            n for n in _names if any(m == n or m.startswith(n + ".") for m in _sys.modules))))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINDLE_")}
    # rindle's own plugins: the example adapter installed here imports httpx itself.
    env["RINDLE_LOAD_PLUGINS"] = "rindle-s3,rindle-gcs,rindle-azure"
    wrapped = (
        "import sys\ntry:\n"
        + textwrap.indent(textwrap.dedent(code), "    ")
        + "\nexcept SystemExit as exc:\n    if exc.code not in (0, None): raise\n"
        + report
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapped],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    line = done.stdout.rsplit("LOADED=", 1)[1].strip()
    return json.loads(line), done.stdout


def test_importing_the_command_line_loads_nothing_heavy(tmp_path: Path) -> None:
    loaded, _ = _loaded("import rindle_core.cli\nfrom rindle_core.cli import cli", tmp_path)
    assert not [name for name in loaded if name in HEAVY], loaded


def test_rindle_version_loads_nothing_heavy(tmp_path: Path) -> None:
    loaded, out = _loaded(
        'sys.argv = ["rindle", "--version"]\nfrom rindle_core.cli import main\nmain()', tmp_path
    )
    assert out.startswith("rindle ")
    assert not [name for name in loaded if name in HEAVY], loaded


def test_importing_rindle_core_loads_no_database_layer(tmp_path: Path) -> None:
    loaded, _ = _loaded("import rindle_core\nrindle_core.TransferFailed", tmp_path)
    assert "sqlalchemy" not in loaded


def test_an_upload_on_local_storage_loads_no_cloud_sdk(tmp_path: Path) -> None:
    """Every installed plugin is enumerated, none of their SDKs imported."""
    (tmp_path / "a.txt").write_text("hello")
    loaded, out = _loaded(
        'sys.argv = ["rindle", "upload", "a.txt", "--json"]\n'
        "from rindle_core.cli import main\nmain()",
        tmp_path,
    )
    assert '"state": "completed"' in out
    assert "sqlalchemy" in loaded  # the database was used...
    assert "sqlalchemy.orm" not in loaded  # ...through Core only (a first run migrates it)
    assert not [name for name in loaded if name.split(".")[0] in ("boto3", "botocore", "azure")]
    assert not [name for name in loaded if name.startswith("google")], loaded
    assert not [name for name in loaded if name.endswith("._adapter")], loaded
    assert "httpx" not in loaded  # the client sends over the standard library
    again, _ = _loaded(
        'sys.argv = ["rindle", "upload", "a.txt", "--json"]\n'
        "from rindle_core.cli import main\nmain()",
        tmp_path,
    )  # on the migrated database: only its own dialect, no Alembic
    assert "sqlalchemy.dialects.sqlite" in again and "alembic" not in again, again
    assert "sqlalchemy.dialects.postgresql" not in again, again
    assert "sqlalchemy.dialects.mysql" not in again, again
    assert "rindle_core.web._api" not in again, again  # a session's shape, not the API


def test_the_schema_holds_its_partial_indexes_once_asked_for(tmp_path: Path) -> None:
    """Statements need no index; ``rindle_core.db.metadata`` (creating or comparing
    the schema) has them all, which loads the dialects their predicates name."""
    loaded, _ = _loaded("import rindle_core.db._repo, rindle_core._broker", tmp_path)
    assert "sqlalchemy.dialects.postgresql" not in loaded, loaded
    code = textwrap.dedent(
        """
        from rindle_core.db import metadata
        names = {i.name for i in metadata.tables["rindle_upload_sessions"].indexes}
        assert {"ix_rindle_upload_sessions_expiry_due",
                "ix_rindle_upload_sessions_cleanup_due"} <= names, names
        """
    )
    loaded, _ = _loaded(code, tmp_path)
    assert "sqlalchemy.dialects.postgresql" in loaded


def test_an_upload_loads_the_sdk_of_a_configured_storage_only(tmp_path: Path) -> None:
    pytest.importorskip("rindle_s3")
    (tmp_path / "rindle.toml").write_text(
        textwrap.dedent(
            """
            database_url = "sqlite:///rindle.db"
            [storage.files]
            type = "local"
            root = "./objects"
            [storage.archive]
            type = "s3"
            bucket = "archive"
            endpoint_url = "http://127.0.0.1:9"
            aws_access_key_id = "AKIDEXAMPLE"
            aws_secret_access_key = "not-a-secret"
            [profiles.docs]
            storage = "files"
            """
        )
    )
    (tmp_path / "a.txt").write_text("hello")
    _loaded(
        'sys.argv = ["rindle", "db", "upgrade"]\nfrom rindle_core.cli import main\nmain()', tmp_path
    )
    loaded, out = _loaded(
        'sys.argv = ["rindle", "upload", "a.txt", "--json"]\n'
        "from rindle_core.cli import main\nmain()",
        tmp_path,
    )
    assert '"state": "completed"' in out
    assert "boto3" in loaded and "rindle_s3._adapter" in loaded  # the configured s3 storage
    assert "sqlalchemy.orm" not in loaded and "alembic" not in loaded
    assert not [name for name in loaded if name.startswith(("google", "azure"))], loaded
    assert "rindle_gcs._adapter" not in loaded and "rindle_azure._adapter" not in loaded


def test_the_orm_row_classes_load_on_first_access(tmp_path: Path) -> None:
    loaded, _ = _loaded("import rindle_core.db\nrindle_core.db.metadata.sorted_tables", tmp_path)
    assert "sqlalchemy" in loaded and "sqlalchemy.orm" not in loaded
    code = textwrap.dedent(
        """
        import rindle_core.db as db
        from rindle_core.db import AssetRow, JobRow, PartRow, SessionRow
        assert SessionRow.__table__ is db.sessions_table
        assert [r.__table__ for r in (AssetRow, PartRow, JobRow)] == [
            db.assets_table, db.parts_table, db.jobs_table]
        assert AssetRow.metadata is db.metadata
        assert JobRow.__tablename__ == "rindle_jobs"
        assert AssetRow.metadata_.property.columns[0] is db.assets_table.c.metadata
        """
    )
    loaded, _ = _loaded(code, tmp_path)
    assert "sqlalchemy.orm" in loaded


@pytest.mark.parametrize("package", ["rindle_s3", "rindle_gcs", "rindle_azure"])
def test_a_plugin_module_imports_no_sdk_until_its_factory_runs(
    tmp_path: Path, package: str
) -> None:
    pytest.importorskip(package)
    loaded, _ = _loaded(f"import {package}._plugin\nimport {package}", tmp_path)
    assert not [name for name in loaded if name in SDKS or name.endswith("._adapter")], loaded
    # The public names are still there, imported on first use.
    names, _ = _loaded(
        f"import {package}\n[getattr({package}, n) for n in {package}.__all__]", tmp_path
    )
    assert f"{package}._adapter" in names


def test_structlog_is_routed_to_stderr_only_once_something_imports_it(tmp_path: Path) -> None:
    pytest.importorskip("structlog")
    code = textwrap.dedent(
        """
        import sys
        from rindle_core.cli._app import _cli_logging
        hooks = list(sys.meta_path)
        with _cli_logging(0):
            assert "structlog" not in sys.modules  # not imported just in case
            import structlog  # as a plugin would, mid-command
            structlog.get_logger().warning("from-a-plugin")
        assert sys.meta_path == hooks  # the import hook is gone
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "from-a-plugin" in done.stderr
    assert "from-a-plugin" not in done.stdout  # stdout stays clean for --json
