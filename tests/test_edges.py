"""Input edges: absurd numbers, non-ASCII digits, trailing newlines, odd TOML, lost databases.

Each one used to end in a traceback or a late, confusing failure; each must
now be a clear typed error at parse time (a one-line CLI error, exit 2, or
exit 1 for a database that cannot be reached).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from rindle_core import (
    Broker,
    ConfigurationError,
    Database,
    DatabaseError,
    InvalidArgument,
    InvalidProfile,
    Profile,
)
from rindle_core._decisions import _EXT_RE, _ID_RE, _MIME_RE, check_id, new_id, storage_key
from rindle_core.config import (
    MAX_DURATION,
    MAX_SIZE,
    load_config,
    parse_config,
    parse_duration,
    parse_size,
    schema_problem,
)
from rindle_core.profiles import MAX_KEY_PREFIX

Run = Callable[..., Result]

BASE = 'database_url = "sqlite:///r.db"\n[storage.files]\ntype = "local"\nroot = "o"\n'


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _one_line_error(result: Result, kind: str) -> str:
    assert "Traceback" not in result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: {kind}: ")
    return result.stderr


# -- numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "99999999999999999999 TB",
        "9" * 40,
        "9" * 5000,
        "9223372036854775808",
        "8 EiB",
        "1e400",
        "-1",
        "١٠MB",  # Arabic-Indic digits
        "１０MB",  # full-width digits
        "10\u00a0MB",  # a non-ASCII space
        "10 MB\nmore",
    ],
)
def test_parse_size_refuses_absurd_or_non_ascii_text(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_size(text)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize("value", [-1, 2**63, 10**5000], ids=["-1", "2**63", "10**5000"])
def test_parse_size_refuses_absurd_integers(value: int) -> None:
    with pytest.raises(ValueError) as caught:
        parse_size(value)
    assert len(str(caught.value)) < 200  # a 5000-digit number is not echoed


def test_parse_size_takes_the_largest_size_and_exact_decimals() -> None:
    assert parse_size(MAX_SIZE) == MAX_SIZE == 2**63 - 1
    assert parse_size(str(MAX_SIZE)) == MAX_SIZE
    assert parse_size("1.1 MB") == 1_100_000  # no float rounding
    assert parse_size("0.5 KiB") == 512
    assert parse_size(" 7 MiB\n") == 7 * 2**20


@pytest.mark.parametrize(
    "text", ["99999999999999999999d", "9" * 5000, "١٠s", "٣h", "-5s", "1.5h", "10s\nx"]
)
def test_parse_duration_refuses_absurd_or_non_ascii_text(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert len(str(caught.value)) < 200


def test_parse_duration_bounds() -> None:
    assert parse_duration(MAX_DURATION) == MAX_DURATION
    assert parse_duration("36500d") == MAX_DURATION
    for value in (MAX_DURATION + 1, 2**63, -1):
        with pytest.raises(ValueError):
            parse_duration(value)


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("max_bytes = 9223372036854775808", "max_bytes"),
        ("max_bytes = 99999999999999999999999999", "max_bytes"),
        ("min_bytes = -1", "min_bytes"),
        ("part_size = '99999999999999999999 TB'", "part_size"),
        ("max_bytes = '١٠MB'", "max_bytes"),
        ("session_ttl = '١٠m'", "session_ttl"),
        ("session_ttl = 99999999999999999999", "session_ttl"),
    ],
)
def test_absurd_profile_numbers_are_refused_at_parse(
    tmp_path: Path, setting: str, key: str
) -> None:
    path = tmp_path / "rindle.toml"
    path.write_text(BASE + f"[profiles.p]\n{setting}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=f"profiles.p.{key}: "):
        load_config(path)


@pytest.mark.parametrize(
    "fields",
    [
        {"max_bytes": 2**63},
        {"min_bytes": 2**63},
        {"part_size": 2**63},
        {"max_bytes": 10**5000},
    ],
    ids=["max_bytes", "min_bytes", "part_size", "max_bytes_5000_digits"],
)
def test_profile_refuses_sizes_beyond_64_bits(fields: dict[str, int]) -> None:
    with pytest.raises(InvalidProfile) as caught:
        Profile(name="p", **fields)  # type: ignore[arg-type]
    assert len(str(caught.value)) < 200


def test_a_huge_part_size_on_the_command_line_is_a_usage_error(run: Run, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    for size in ("99999999999999999999999999", "99999999999999999999 TB", "١٠MB", "9" * 5000):
        result = run("upload", "a.txt", "--strategy", "multipart", "--part-size", size, code=2)
        assert "Invalid value for '--part-size'" in result.stderr
        assert "Traceback" not in result.output
    assert not (tmp_path / ".rindle").exists()  # refused before anything was touched


# -- TOML -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tail",
    ["x = " + "[" * 5000 + "]" * 5000, "x = " + "{a = " * 5000 + "}" * 5000],
)
def test_deeply_nested_toml_is_a_configuration_error(run: Run, tmp_path: Path, tail: str) -> None:
    (tmp_path / "rindle.toml").write_text(BASE + tail + "\n")
    with pytest.raises(ConfigurationError, match="nested too deeply"):
        load_config(tmp_path / "rindle.toml")
    stderr = _one_line_error(run("sessions", "list", code=2), "ConfigurationError")
    assert "invalid TOML: arrays or tables are nested too deeply" in stderr


def test_an_integer_with_too_many_digits_is_a_configuration_error(run: Run, tmp_path: Path) -> None:
    (tmp_path / "rindle.toml").write_text(BASE + "[profiles.p]\nmax_bytes = " + "9" * 5000)
    stderr = _one_line_error(run("sessions", "list", code=2), "ConfigurationError")
    assert "a number has too many digits" in stderr


def test_a_toml_file_with_a_utf8_bom_is_read(run: Run, tmp_path: Path) -> None:
    (tmp_path / "rindle.toml").write_bytes(b"\xef\xbb\xbf" + (BASE + "[profiles.p]\n").encode())
    config = load_config(tmp_path / "rindle.toml")
    assert [p.name for p in config.profiles] == ["p"]
    run("db", "upgrade")
    assert run("sessions", "list").stdout == "no sessions\n"


# -- names and ids: no trailing newline -------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "good"),
    [(_ID_RE, "a" * 32), (_MIME_RE, "image/png"), (_EXT_RE, "png")],
)
def test_decision_patterns_refuse_a_trailing_newline(pattern: Any, good: str) -> None:
    assert pattern.match(good)
    assert pattern.match(good + "\n") is None


def test_ids_with_a_trailing_newline_are_malformed() -> None:
    good = new_id()
    assert check_id(good) == good
    with pytest.raises(InvalidArgument, match="malformed"):
        check_id(good + "\n")


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "avatars\n"},
        {"name": "ok", "key_prefix": "uploads\n"},
        {"name": "ok", "key_prefix": "a/b\n"},
        {"name": "ok", "allow_mime": ["image/png\nx"]},
        {"name": "ok", "allow_extensions": ["png\nx"]},
    ],
)
def test_profile_names_and_patterns_refuse_a_trailing_newline(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidProfile):
        Profile(**fields)


def test_a_storage_name_with_a_trailing_newline_is_refused() -> None:
    data = {
        "database_url": "sqlite:///r.db",
        "storage": {"files\n": {"type": "local", "root": "o"}},
        "profiles": {"p": {}},
    }
    with pytest.raises(ConfigurationError, match="storage.files"):
        parse_config(data, environ={})


# -- key_prefix fits the storage_key column -----------------------------------------------------


def test_key_prefix_is_bounded(tmp_path: Path) -> None:
    with pytest.raises(InvalidProfile, match=f"longer than {MAX_KEY_PREFIX}"):
        Profile(name="p", key_prefix="a" * (MAX_KEY_PREFIX + 1))
    path = tmp_path / "rindle.toml"
    path.write_text(BASE + f"[profiles.p]\nkey_prefix = '{'a/' * 200}z'\n")
    with pytest.raises(ConfigurationError, match="profiles.p: .*key_prefix is longer"):
        load_config(path)


def test_the_longest_key_prefix_still_fits_the_database(
    any_db: Database, pm: Any, tmp_path: Path
) -> None:
    from rindle_core.local import LocalStorage

    prefix = "/".join(["p" * 63] * 4)[:MAX_KEY_PREFIX].rstrip("/")
    prefix = prefix + "x" * (MAX_KEY_PREFIX - len(prefix))
    assert len(prefix) == MAX_KEY_PREFIX
    profile = Profile(name="long", storage="files", key_prefix=prefix)
    longest = storage_key(profile, new_id(), "name." + "e" * 16)
    assert len(longest) <= 512
    broker = Broker(
        any_db,
        profiles=[profile],
        storages={
            "files": LocalStorage(
                tmp_path / "objects", base_url="http://127.0.0.1:9/u", secret="s" * 32
            )
        },
        plugin_manager=pm,
        job_mode="inline",
    )
    session = broker.initiate_session(
        "long", filename="name." + "e" * 16, content_type="application/octet-stream", size=1
    )
    assert session.storage_key.startswith(prefix + "/")


# -- a database that cannot be reached ----------------------------------------------------------


def _unreachable_config(tmp_path: Path) -> Path:
    path = tmp_path / "rindle.toml"
    url = f"postgresql+psycopg://rindle:hunter2@127.0.0.1:{_closed_port()}/nowhere"
    path.write_text(f'database_url = "{url}"\n' + BASE.split("\n", 1)[1] + "[profiles.p]\n")
    return path


def test_an_unreachable_database_is_reported_as_unreachable(tmp_path: Path) -> None:
    config = load_config(_unreachable_config(tmp_path), environ={})
    with pytest.raises(DatabaseError) as caught:
        config.open_database()
    message = str(caught.value)
    assert "cannot reach the database 'postgresql+psycopg://rindle:***@127.0.0.1:" in message
    assert "no rindle tables" not in message
    assert "hunter2" not in message
    database = config.database()
    try:
        problem = schema_problem(database)
    finally:
        database.dispose()
    assert problem is not None
    assert problem.startswith("cannot reach the database")


def test_the_cli_names_an_unreachable_database_on_one_line(run: Run, tmp_path: Path) -> None:
    _unreachable_config(tmp_path)
    result = run("sessions", "list", code=1)
    stderr = _one_line_error(result, "DatabaseError")
    assert "cannot reach the database" in stderr
    assert "hunter2" not in result.output


def test_a_sqlite_file_in_a_missing_directory_is_unreachable(run: Run, tmp_path: Path) -> None:
    (tmp_path / "rindle.toml").write_text(
        f'database_url = "sqlite:///{tmp_path}/no/such/dir/r.db"\n'
        + BASE.split("\n", 1)[1]
        + "[profiles.p]\n"
    )
    stderr = _one_line_error(run("sessions", "list", code=1), "DatabaseError")
    assert "cannot reach the database 'sqlite:///" in stderr
    assert "no rindle tables" not in stderr


def test_a_reachable_empty_database_still_asks_for_an_upgrade(run: Run, tmp_path: Path) -> None:
    (tmp_path / "rindle.toml").write_text(BASE + "[profiles.p]\n")
    stderr = _one_line_error(run("sessions", "list", code=2), "ConfigurationError")
    assert "has no rindle tables: run `rindle db upgrade`" in stderr
