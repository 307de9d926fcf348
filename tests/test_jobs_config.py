"""Job settings: one retry budget and lease everywhere, and refused nonsense."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from rindle_core import Broker, ConfigurationError, Database, JobRunner
from rindle_core.config import Config, parse_config
from rindle_core.jobs import DEFAULT_LEASE, DEFAULT_MAX_ATTEMPTS, enqueue

DOCS = Path(__file__).resolve().parent.parent / "docs"
BASE = 'database_url = "sqlite:///x.db"\n'
REST = '[storage.files]\ntype = "local"\nroot = "o"\n[profiles.p]\nstorage = "files"\n'


def parse(top: str) -> Config:
    return parse_config(_toml(BASE + top + REST), source="/etc/rindle.toml", environ={})


def _toml(text: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(text)


def documented_default(key: str) -> str:
    """The default column of *key*'s row in docs/configuration.md."""
    table = (DOCS / "configuration.md").read_text(encoding="utf-8")
    match = re.search(rf"^\| `{key}` \|[^|]*\| ([^|]*) \|", table, re.MULTILINE)
    assert match, f"{key} is not documented in docs/configuration.md"
    return match.group(1).strip()


def test_one_retry_budget_everywhere() -> None:
    """Python default, Broker default, TOML default and the docs agree (they did not)."""
    broker_default = inspect.signature(Broker.__init__).parameters["job_max_attempts"].default
    enqueue_default = inspect.signature(enqueue).parameters["max_attempts"].default
    assert DEFAULT_MAX_ATTEMPTS == 10
    assert broker_default == enqueue_default == DEFAULT_MAX_ATTEMPTS
    assert parse("").job_max_attempts == DEFAULT_MAX_ATTEMPTS
    assert Config.__attrs_attrs__.job_max_attempts.default == DEFAULT_MAX_ATTEMPTS
    assert documented_default("job_max_attempts") == str(DEFAULT_MAX_ATTEMPTS)


def test_one_default_lease_everywhere() -> None:
    broker_default = inspect.signature(Broker.__init__).parameters["job_lease"].default
    runner_default = inspect.signature(JobRunner.__init__).parameters["lease"].default
    assert broker_default == runner_default == DEFAULT_LEASE == 300.0
    assert parse("").job_lease == DEFAULT_LEASE
    assert Config.__attrs_attrs__.job_lease.default == DEFAULT_LEASE
    assert documented_default("job_lease") == "300"


@pytest.mark.parametrize(
    ("line", "seconds"),
    [("job_lease = 90", 90.0), ("job_lease = 2.5", 2.5), ('job_lease = "5m"', 300.0)],
)
def test_job_lease_in_toml(line: str, seconds: float) -> None:
    assert parse(line + "\n").job_lease == seconds


@pytest.mark.parametrize(
    "value", ["0", "-5", "0.5", "nan", "inf", "-inf", "true", '"soon"', "86401", "1e400"]
)
def test_job_lease_refuses_nonsense(value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^/etc/rindle.toml: job_lease: "):
        parse(f"job_lease = {value}\n")


@pytest.mark.parametrize("value", ["nan", "inf", "+inf", "-inf", "0", "-1", "true", "1e300"])
def test_worker_interval_refuses_nan_inf_and_nonsense(value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^/etc/rindle.toml: worker_interval: .*positive"):
        parse(f"worker_interval = {value}\n")


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), True, "60"])
def test_runner_refuses_a_bad_lease(sqlite_db: Database, value: Any) -> None:
    with pytest.raises(ConfigurationError, match="lease must be a positive, finite number"):
        JobRunner(sqlite_db, {}, lease=value)
    runner = JobRunner(sqlite_db, {})
    with pytest.raises(ConfigurationError):
        runner.lease = value
    assert runner.lease == DEFAULT_LEASE


def test_the_configured_lease_reaches_the_runner(sqlite_db: Database) -> None:
    config = parse('job_lease = "90s"\njob_max_attempts = 4\n')
    broker = config.build_broker(database=sqlite_db)
    assert broker.jobs.lease == 90.0
    assert Broker(sqlite_db, profiles=[], storages={}, job_lease=12.5).jobs.lease == 12.5


Run = Callable[..., Result]


def test_worker_lease_option(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []
    original = JobRunner.run_due

    def spy(self: JobRunner, limit: int = 100) -> Any:
        seen.append(self.lease)
        return original(self, limit)

    monkeypatch.setattr(JobRunner, "run_due", spy)
    run("worker", "--once", "--lease", "45")
    run("worker", "--once")
    assert seen == [45.0, DEFAULT_LEASE]


@pytest.mark.parametrize(
    "args",
    [
        ("--lease", "nan"),
        ("--lease", "inf"),
        ("--lease", "0.5"),
        ("--interval", "nan"),
        ("--interval", "inf"),
        ("--interval", "1e308"),
    ],
)
def test_worker_refuses_nan_and_inf_seconds(run: Run, args: tuple[str, str]) -> None:
    result = run("worker", "--once", *args, code=2)
    assert args[0] in result.stderr and "Traceback" not in result.stderr
