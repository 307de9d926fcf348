"""``cleanup_grace``: one default everywhere, parsed from TOML, refused when absurd."""

from __future__ import annotations

import datetime as dt
import inspect

import pytest
from test_jobs_config import documented_default, parse

from rindle_core import Broker, ConfigurationError, Database
from rindle_core._maintenance import Maintenance
from rindle_core.config import Config


def test_one_default_grace_everywhere() -> None:
    broker_default = inspect.signature(Broker.__init__).parameters["cleanup_grace"].default
    assert broker_default == Maintenance.DEFAULT_CLEANUP_GRACE == 300
    assert parse("").cleanup_grace == 300
    assert Config.__attrs_attrs__.cleanup_grace.default == 300
    assert documented_default("cleanup_grace") == "300"


@pytest.mark.parametrize(
    ("line", "seconds"),
    [("cleanup_grace = 0", 0.0), ("cleanup_grace = 90", 90.0), ('cleanup_grace = "10m"', 600.0)],
)
def test_cleanup_grace_in_toml_reaches_the_broker(
    line: str, seconds: float, sqlite_db: Database
) -> None:
    config = parse(line + "\n")
    assert config.cleanup_grace == seconds
    broker = config.build_broker(database=sqlite_db)
    assert broker.maintenance.cleanup_grace == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "true", '"soon"', "604801", "1e400"])
def test_cleanup_grace_refuses_nonsense(value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^/etc/rindle.toml: cleanup_grace: "):
        parse(f"cleanup_grace = {value}\n")
