"""Help, version, exit codes and bad configuration, as a user meets them."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from click.testing import Result

from rindle_core.cli import cli

Run = Callable[..., Result]


def command_paths(
    group: click.Group = cli, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


ALL_COMMANDS = list(command_paths())


def test_every_command_is_covered() -> None:
    assert {" ".join(p) for p in ALL_COMMANDS} == {
        "",
        "demo",
        "serve",
        "upload",
        "sessions",
        "sessions list",
        "sessions show",
        "assets",
        "assets show",
        "worker",
        "expire",
        "prune",
        "db",
        "db upgrade",
        "db current",
        "doctor",
        "metrics",
        "relay",
        "relay sweep",
    }


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "rindle")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_on_every_command(run: Run, path: tuple[str, ...], flag: str) -> None:
    result = run(*path, flag)
    assert result.stdout.startswith(f"Usage: rindle {' '.join(path)}".rstrip())
    assert not Path(".rindle").exists()  # help never touches the database


def test_version(run: Run) -> None:
    assert run("--version").stdout == f"rindle {importlib.metadata.version('rindle-core')}\n"


def test_unknown_command_is_a_usage_error(run: Run) -> None:
    assert "No such command 'uplaod'" in run("uplaod", code=2).stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'databse_url = "x"\n',
            "rindle.toml: databse_url: unknown key (did you mean 'database_url'?)",
        ),
        (
            'database_url = "sqlite:///r.db"\n[storage.files]\ntype = "local"\nroot = "o"\n'
            "[profiles.avatars]\nmax_bytes = 'big'\n",
            "rindle.toml: profiles.avatars.max_bytes: expected a size",
        ),
        (
            'database_url = "sqlite:///r.db"\n[storage.files]\ntype = "ftp"\n[profiles.p]\n',
            "rindle.toml: storage.files.type: unknown storage type 'ftp'",
        ),
        (
            'database_url = "sqlite:///r.db"\n[storage.files]\ntype = "local"\nroot = "o"\n'
            "[profiles.p]\nstorage = 'cloud'\n",
            "rindle.toml: profiles.p.storage: no storage named 'cloud' (configured: files)",
        ),
        (
            'database_url = "sqlite:///r.db"\n[storage.files]\ntype = "local"\n[profiles.p]\n',
            "rindle.toml: storage 'files' (local): option 'root' is required",
        ),
        ("database_url = \n", "rindle.toml: invalid TOML"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(
    run: Run, tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "rindle.toml").write_text(text)
    commands = [["upload", "rindle.toml"], ["expire"], ["worker", "--once"]]
    # Read-only commands build no adapter (ADR 0092): only writers see a bad option.
    if "storage.files: " not in message and "storage 'files' (" not in message:
        commands.insert(0, ["sessions", "list"])
    for command in commands:
        result = run(*command, code=2)
        assert result.stderr.startswith("error: ConfigurationError: ")
        assert message in result.stderr
        assert result.stderr.count("\n") == 1
        assert "Traceback" not in result.output


def test_config_from_the_option_and_the_environment(run: Run, tmp_path: Path) -> None:
    result = run("--config", "elsewhere.toml", "sessions", "list", code=2)
    assert "elsewhere.toml' (from --config) does not exist" in result.stderr
    result = run("sessions", "list", code=2, env={"RINDLE_CONFIG": str(tmp_path / "env.toml")})
    assert "env.toml' (from RINDLE_CONFIG) does not exist" in result.stderr


def test_config_option_is_used(run: Run, tmp_path: Path) -> None:
    conf = tmp_path / "conf" / "mine.toml"
    conf.parent.mkdir()
    conf.write_text(
        'database_url = "sqlite:///r.db"\n[storage.files]\ntype = "local"\nroot = "o"\n'
        "[profiles.mine]\n"
    )
    run("-c", str(conf), "db", "upgrade")
    assert (conf.parent / "r.db").is_file()
    (tmp_path / "a.txt").write_text("a")
    result = run("-c", str(conf), "upload", "a.txt", "--json")
    assert '"profile": "mine"' in result.stdout
