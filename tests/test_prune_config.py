"""``prune_after``, ``sweep_quarantined_after``, ``sweep_abandoned_after``: the ages
``rindle prune`` uses when its flags are not given (issue 13, point 5)."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest
from maintenance_rows import insert_sessions
from test_cli_ops import CONFIG, Run
from test_jobs_config import documented_default, parse
from test_prune import add_jobs

from rindle_core import ConfigurationError
from rindle_core.config import Config, embedded_config, load_config, parse_duration

DAY = 86400
AGE_KEYS = ("prune_after", "sweep_quarantined_after", "sweep_abandoned_after")

# -- parsing ------------------------------------------------------------------------------


def test_defaults_agree_everywhere() -> None:
    config = parse("")
    assert config.prune_after == Config.__attrs_attrs__.prune_after.default == 30 * DAY
    assert embedded_config(Path("/nowhere")).prune_after == 30 * DAY
    assert (config.sweep_quarantined_after, config.sweep_abandoned_after) == (None, None)
    assert parse_duration(documented_default("prune_after").strip('`"')) == 30 * DAY
    for key in AGE_KEYS[1:]:
        assert documented_default(key) == "unset (off)"


@pytest.mark.parametrize("key", AGE_KEYS)
@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ('"30d"', 30 * DAY),
        ('"12h"', 12 * 3600),
        ('"90m"', 5400),
        ('" 7 D "', 7 * DAY),
        ('"1h"', 3600),  # the shortest age
        ('"3650d"', 3650 * DAY),  # the longest
        ("3600", 3600),  # a bare number is seconds
        ("7200.5", 7200.5),
    ],
)
def test_good_ages(key: str, value: str, seconds: float) -> None:
    config = parse(f"{key} = {value}\n")
    assert getattr(config, key) == seconds
    assert isinstance(getattr(config, key), float)


def test_the_keys_are_independent() -> None:
    config = parse('sweep_quarantined_after = "7d"\nsweep_abandoned_after = "90d"\n')
    assert (config.sweep_quarantined_after, config.sweep_abandoned_after) == (7 * DAY, 90 * DAY)
    assert config.prune_after == 30 * DAY


@pytest.mark.parametrize("key", AGE_KEYS)
@pytest.mark.parametrize(
    "value",
    [
        "30",  # 30 seconds, not days: below the hour
        "0",
        '"0d"',
        '"59m"',
        '"3651d"',
        "315360001",
        "-3600",
        '"-5d"',
        "nan",
        "inf",
        "-inf",
        "1e400",
        "true",
        '"soon"',
        '"30 days"',
        '"1w"',
        '""',
        '"٣٠d"',  # Arabic-Indic digits
        "[1, 2]",
        "{ days = 30 }",
        "1979-05-27",
    ],
)
def test_bad_ages_name_the_key(key: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"^/etc/rindle.toml: {key}: must be 1 hour to"):
        parse(f"{key} = {value}\n")


def test_an_absurdly_long_number_is_not_echoed_whole() -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse(f"prune_after = {10**40}\n")
    message = str(caught.value)
    assert "prune_after" in message and "more than 30 digits" in message
    assert str(10**40) not in message
    with pytest.raises(ConfigurationError) as caught:
        parse(f'prune_after = "{"9" * 400}d"\n')
    assert len(str(caught.value)) < 300


def test_a_misspelt_key_is_named_with_a_suggestion() -> None:
    with pytest.raises(ConfigurationError, match=r"did you mean 'sweep_abandoned_after'"):
        parse('sweep_abandonned_after = "30d"\n')


def test_settings_rindle_spells_them_in_upper_case() -> None:
    pytest.importorskip("django")
    from rindle_core.web.django._conf import _FILE_KEYS

    for key in AGE_KEYS:
        assert _FILE_KEYS[key.upper()] == key


# -- rindle prune ---------------------------------------------------------------------------


def configure(tmp_path: Path, run: Run, top: str) -> Path:
    """A rindle.toml with *top*-level lines, its database upgraded."""
    path = tmp_path / "rindle.toml"
    path.write_text(top + textwrap.dedent(CONFIG))
    run("db", "upgrade")
    return path


def add_rows(config_path: Path, days_ago: int) -> None:
    """3 finished sessions and 2 succeeded jobs, *days_ago* days old."""
    database = load_config(config_path, environ={}).open_database()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    try:
        with database.transaction() as conn:
            insert_sessions(
                conn, 3, state="completed", expires_at=old, asset_state="available",
                profile="docs", storage="files",
            )  # fmt: skip
        add_jobs(database, 2, state="succeeded", run_at=old)
    finally:
        database.dispose()


def add_assets(config_path: Path, days_ago: int) -> None:
    """One quarantined and one abandoned asset (no object), *days_ago* days untouched."""
    database = load_config(config_path, environ={}).open_database()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    try:
        with database.transaction() as conn:
            insert_sessions(
                conn, 1, state="completed", expires_at=old, created_at=old,
                asset_state="quarantined", profile="docs", storage="files",
            )  # fmt: skip
            insert_sessions(
                conn, 1, state="expired", expires_at=old, created_at=old,
                remote_cleanup="done", asset_state="abandoned", profile="docs", storage="files",
            )  # fmt: skip
    finally:
        database.dispose()


def prune_json(run: Run, *args: str) -> dict[str, object]:
    report: dict[str, object] = json.loads(run("prune", "--json", *args).stdout)
    return report


def test_prune_after_is_the_default_age(run: Run, tmp_path: Path) -> None:
    configured = configure(tmp_path, run, 'prune_after = "90d"\n')
    add_rows(configured, days_ago=60)
    assert "would delete 0 session(s), 0 part(s), 0 job(s)" in run("prune", "--dry-run").stdout
    report = prune_json(run)
    assert (report["sessions"], report["jobs"]) == (0, 0)
    # The flag overrides the key.
    report = prune_json(run, "--older-than", "30")
    assert (report["sessions"], report["jobs"]) == (3, 2)


def test_a_shorter_prune_after_reaches_rows_the_30_day_default_keeps(
    run: Run, tmp_path: Path
) -> None:
    configured = configure(tmp_path, run, 'prune_after = "7d"\n')
    add_rows(configured, days_ago=10)
    assert "would delete 0 session(s)" in run("prune", "--dry-run", "--older-than", "30").stdout
    report = prune_json(run)
    assert (report["sessions"], report["jobs"], report["assets"]) == (3, 2, None)


def test_the_sweep_keys_turn_the_sweeps_on(run: Run, tmp_path: Path) -> None:
    configured = configure(
        tmp_path, run, 'sweep_quarantined_after = "30d"\nsweep_abandoned_after = "30d"\n'
    )
    add_assets(configured, days_ago=60)
    assert prune_json(run, "--dry-run")["assets"] is None  # a dry run sweeps nothing
    assets = prune_json(run)["assets"]
    assert isinstance(assets, dict)
    # The quarantined asset's object is deleted (already absent counts as deleted).
    assert (assets["quarantined_deleted"], assets["abandoned_deleted"]) == (1, 1)
    assert (assets["objects_deleted"], assets["object_failures"]) == (1, 0)
    assets = prune_json(run)["assets"]
    assert isinstance(assets, dict)
    assert (assets["quarantined_deleted"], assets["abandoned_deleted"]) == (0, 0)


def test_a_flag_overrides_its_sweep_key_only(run: Run, tmp_path: Path) -> None:
    configured = configure(
        tmp_path, run, 'sweep_quarantined_after = "90d"\nsweep_abandoned_after = "90d"\n'
    )
    add_assets(configured, days_ago=60)
    assets = prune_json(run)["assets"]
    assert isinstance(assets, dict)
    assert (assets["quarantined_deleted"], assets["abandoned_deleted"]) == (0, 0)
    assets = prune_json(run, "--abandoned-after", "30")["assets"]
    assert isinstance(assets, dict)
    assert (assets["quarantined_deleted"], assets["abandoned_deleted"]) == (0, 1)
    assets = prune_json(run, "--quarantined-after", "30")["assets"]
    assert isinstance(assets, dict)
    assert (assets["quarantined_deleted"], assets["abandoned_deleted"]) == (1, 0)


def test_without_the_keys_nothing_is_swept(run: Run, tmp_path: Path) -> None:
    configured = configure(tmp_path, run, "")
    add_assets(configured, days_ago=60)
    assert prune_json(run)["assets"] is None
    assets = prune_json(run, "--quarantined-after", "30")["assets"]
    assert isinstance(assets, dict)
    assert (assets["quarantined_deleted"], assets["abandoned_deleted"]) == (1, 0)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("prune_after = 30\n", "prune_after"),
        ('sweep_quarantined_after = "soon"\n', "sweep_quarantined_after"),
        ('sweep_abandoned_after = "5000d"\n', "sweep_abandoned_after"),
    ],
)
def test_a_bad_age_is_a_configuration_error_not_a_traceback(
    run: Run, tmp_path: Path, line: str, key: str
) -> None:
    (tmp_path / "rindle.toml").write_text(line + textwrap.dedent(CONFIG))
    for args in (["prune"], ["prune", "--older-than", "30", "--quarantined-after", "30"]):
        result = run(*args, code=2)
        assert result.stderr.startswith("error: ConfigurationError: "), result.stderr
        assert f"rindle.toml: {key}: must be 1 hour to 3650 days" in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0.01", "3651", "1e400", "thirty", ""])
@pytest.mark.parametrize("flag", ["--older-than", "--quarantined-after", "--abandoned-after"])
def test_a_bad_age_flag_is_a_usage_error_in_words(run: Run, flag: str, value: str) -> None:
    result = run("prune", flag, value, code=2)
    assert f"Invalid value for '{flag}'" in result.stderr
    assert "one hour" in result.stderr or "not a number of days" in result.stderr
    assert "Traceback" not in result.stderr and "0.0416666" not in result.stderr


def test_the_age_flags_state_their_range_in_words(run: Run) -> None:
    text = run("prune", "--help").stdout
    assert text.count("[one hour to 3650") == 3 and "0.0416666" not in text
