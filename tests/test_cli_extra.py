"""The library runs without the `cli` extra; the `rindle` command names it when missing.

Each test runs a fresh interpreter whose imports of the extra's modules (click,
rich, httpx) fail as they would if they were not installed: a meta-path finder
placed first raises ``ModuleNotFoundError`` for them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CLI_EXTRA = ("click", "rich", "httpx")
HINT = 'pip install "rindle-core[cli]"'


def _blocking(*modules: str) -> str:
    """Python source that makes importing ``modules`` (and their submodules) fail."""
    return textwrap.dedent(
        f"""
        import sys

        class _Missing:
            blocked = {modules!r}

            def find_spec(self, name, path=None, target=None):
                if name in self.blocked or name.partition(".")[0] in self.blocked:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, _Missing())
        """
    )


def _python(
    code: str, cwd: Path, *, blocked: tuple[str, ...] = CLI_EXTRA
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINDLE_")}
    # Only rindle's own plugins: a third-party one installed here (the example
    # adapter needs httpx) is not an import of the library.
    env["RINDLE_LOAD_PLUGINS"] = "rindle-s3,rindle-gcs,rindle-azure"
    return subprocess.run(
        [sys.executable, "-c", _blocking(*blocked) + textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


LIBRARY_USE = """
import rindle_core, rindle_core.config, rindle_core.jobs, rindle_core.plugins
from rindle_core import Broker, Database, Profile
from rindle_core.local import LocalStorage

db = Database("sqlite:///rindle.db")
db.create_all()
broker = Broker(
    db,
    profiles=[Profile(name="avatars", storage="media", allow_mime=["image/png"])],
    storages={"media": LocalStorage("objects", base_url="http://127.0.0.1:9/u")},
)
session = broker.initiate_session(
    "avatars", filename="me.png", content_type="image/png", size=100
)
broker.sign_url(session.id)
"""


def test_the_library_needs_no_cli_extra_nor_structlog(tmp_path: Path) -> None:
    done = _python(LIBRARY_USE + "print('ok')", tmp_path, blocked=(*CLI_EXTRA, "structlog"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"  # and prints nothing else


def test_the_library_does_not_import_the_cli_extra_nor_structlog(tmp_path: Path) -> None:
    # With everything installed, nothing in the library reaches for click,
    # rich, httpx or structlog.
    code = LIBRARY_USE + "print(sorted({m.partition('.')[0] for m in sys.modules}))"
    done = _python(code, tmp_path, blocked=())
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.splitlines()[-1]
    for name in (*CLI_EXTRA, "structlog"):
        assert f"'{name}'" not in loaded
    assert "'rindle_core'" in loaded


def test_the_command_runs_without_structlog(tmp_path: Path) -> None:
    # structlog is no dependency: the CLI routes it to stderr only where installed.
    done = _python(
        """
        from rindle_core.cli import main
        for args in (["db", "upgrade"], ["sessions", "list", "--json"]):
            sys.argv = ["rindle", "-v", *args]
            try:
                main()
            except SystemExit as exc:
                assert not exc.code, exc.code
        assert "structlog" not in sys.modules
        """,
        tmp_path,
        blocked=("structlog",),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith('{\n  "sessions": []\n}\n'), done.stdout


@pytest.mark.parametrize("missing", CLI_EXTRA)
def test_the_console_script_names_the_extra(tmp_path: Path, missing: str) -> None:
    done = _python(
        """
        sys.argv = ["rindle", "demo"]
        from rindle_core.cli import main
        main()
        """,
        tmp_path,
        blocked=(missing,),
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert HINT in lines[0]
    assert missing in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing ran


def test_other_missing_modules_are_not_blamed_on_the_extra(tmp_path: Path) -> None:
    # A command's module is imported when the command runs (ADR 0119).
    done = _python(
        """
        sys.argv = ["rindle", "demo"]
        from rindle_core.cli import main
        main()
        """,
        tmp_path,
        blocked=("rindle_core.cli._demo",),
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "rindle_core.cli._demo" in done.stderr
    assert HINT not in done.stderr


def test_the_command_group_is_still_importable_by_name() -> None:
    import click

    from rindle_core.cli import cli, main

    assert isinstance(cli, click.Group)
    assert callable(main)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = __import__("rindle_core.cli", fromlist=["nope"]).nope
