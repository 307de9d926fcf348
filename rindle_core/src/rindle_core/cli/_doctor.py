"""``rindle doctor``: is the configuration usable, end to end?"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal

import attrs
import click
from rich.text import Text
from sqlalchemy import text

from .._errors import (
    ConfigurationError,
    RindleError,
    StorageError,
    StorageNotFound,
    StorageUnavailable,
)
from ..config import Config, schema_problem
from ..plugins import storage_factories
from ..storage import StorageAdapter, capabilities_of
from ._app import EXIT_FAILED, EXIT_OK, EXIT_USAGE, App, console, pass_app, print_json

__all__ = ["doctor"]

Status = Literal["ok", "warn", "fail"]
_QUERY: Final = re.compile(r"\?\S*")


@attrs.frozen
class Check:
    """One line of the report."""

    name: str
    status: Status
    detail: str


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def doctor(app: App, as_json: bool) -> None:
    """Check the configuration, the database and every storage backend.

    Each storage gets a HEAD (and a ranged GET) of a random missing key:
    "not found" proves the endpoint is reachable, the credentials work and
    the bucket exists. It creates nothing: not an absent SQLite database,
    not a local storage root.
    Exits 0 when all pass, 1 when a check fails, 2 on a configuration error.
    """
    checks: list[Check] = []
    code = _run_checks(app, checks)
    if as_json:
        print_json({"ok": code == EXIT_OK, "checks": [attrs.asdict(c) for c in checks]})
    else:
        out = console()
        marks = {"ok": ("ok", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "red")}
        for check in checks:
            mark, style = marks[check.status]
            out.print(Text.assemble((f"{mark:>4}", style), f"  {check.name}: ", check.detail))
    raise click.exceptions.Exit(code)


def _run_checks(app: App, checks: list[Check]) -> int:
    add = checks.append
    try:
        config = app.config()
    except ConfigurationError as exc:
        add(Check("config", "fail", str(exc)))
        return EXIT_USAGE
    add(Check("config", "ok", config.describe_source()))
    try:
        pm = app.plugin_manager()
    except ConfigurationError as exc:
        add(Check("plugins", "fail", str(exc)))
        return EXIT_USAGE
    add(Check("plugins", "ok", "storage types: " + ", ".join(sorted(storage_factories(pm)))))
    failed = not _check_database(app, config, add)
    for name, storage in config.storages.items():
        absent = _absent_local_root(config, name)
        if absent is not None:  # building it would create it
            detail = f"local: root {absent} does not exist yet (created on first use)"
            add(Check(f"storage {name}", "ok", detail))
            continue
        try:
            adapter = storage.build(plugin_manager=pm)
        except ConfigurationError as exc:
            add(Check(f"storage {name}", "fail", str(exc)))
            failed = True
            continue
        failed |= not _check_storage(name, adapter, config, add)
    for profile in config.profiles:
        add(Check(f"profile {profile.name}", "ok", f"storage {profile.storage}"))
    return EXIT_FAILED if failed else EXIT_OK


def _absent_local_root(config: Config, name: str) -> Path | None:
    """A ``local`` storage's root directory when it does not exist (else None)."""
    storage = config.storages[name]
    root = storage.options.get("root")
    if storage.type != "local" or not isinstance(root, str) or not root:
        return None
    path = Path(root).expanduser()
    if not path.is_absolute():
        path = (storage.base_dir or Path.cwd()) / path
    return None if path.exists() else path.absolute()


def _check_database(app: App, config: Config, add: Callable[[Check], None]) -> bool:
    if config.missing_database_file() is not None:  # doctor creates nothing
        app.name_database()
        detail = f"{config.safe_database_url} does not exist yet"
        if config.creates_database:
            add(Check("database", "ok", f"{detail} (embedded default: created on first use)"))
            add(Check("schema", "ok", "created automatically on first use (embedded default)"))
            return True
        add(Check("database", "ok", f"{detail} (`rindle db upgrade` creates it)"))
        add(Check("schema", "fail", "no rindle tables: run `rindle db upgrade`"))
        return False
    try:
        database = app.database()
        with database.read() as conn:
            conn.execute(text("SELECT 1"))
    except ConfigurationError as exc:
        add(Check("database", "fail", str(exc)))
        return False
    except Exception as exc:
        add(Check("database", "fail", f"{config.safe_database_url} is unreachable: {_brief(exc)}"))
        return False
    add(Check("database", "ok", f"{config.safe_database_url} ({database.dialect}) is reachable"))
    try:
        problem = schema_problem(database)
        current, head = database.schema_revision(), database.head_revision()
    except Exception as exc:
        add(Check("schema", "fail", _brief(exc)))
        return False
    if problem is None:
        if current is None:
            add(
                Check(
                    "schema",
                    "warn",
                    f"tables exist but no rindle revision is recorded (head {head})",
                )
            )
        else:
            add(Check("schema", "ok", f"at revision {current} (head)"))
        return True
    if config.creates_database:
        add(Check("schema", "ok", "created automatically on first use (embedded default)"))
        return True
    add(Check("schema", "fail", f"{problem}: run `rindle db upgrade`"))
    return False


def _check_storage(
    name: str, adapter: StorageAdapter, config: Config, add: Callable[[Check], None]
) -> bool:
    label = f"storage {name}"
    caps = ", ".join(sorted(c.value for c in capabilities_of(adapter)))
    # Every adapter tells a missing bucket from a missing key (the contract kit
    # checks it), so a HEAD of a random key is the whole probe.
    probe = f"rindle-doctor/{secrets.token_hex(8)}"
    try:
        adapter.head(probe)
    except StorageNotFound:
        pass
    except StorageUnavailable as exc:
        add(Check(label, "fail", f"{adapter.backend}: unreachable ({_brief(exc)})"))
        return False
    except StorageError as exc:
        add(Check(label, "fail", f"{adapter.backend}: {_brief(exc)} (credentials? bucket?)"))
        return False
    except RindleError as exc:
        add(Check(label, "fail", f"{adapter.backend}: {_brief(exc)}"))
        return False
    except Exception as exc:
        add(Check(label, "fail", f"{adapter.backend}: unexpected {_brief(exc)}"))
        return False
    else:
        add(Check(label, "warn", f"{adapter.backend}: a HEAD of a random key found an object"))
        return True
    detail = f"{adapter.backend}: reachable, credentials and bucket OK ({caps})"
    storage = config.storages[name]
    if storage.type == "local" and storage.options.get("base_url") is None:
        detail += "; no base_url: `rindle upload` serves a receiver on 127.0.0.1"
    add(Check(label, "ok", detail))
    return True


def _brief(exc: BaseException) -> str:
    """``Type: first line``, with any URL query (a signature) removed."""
    lines = str(exc).strip().splitlines()
    first = _QUERY.sub("?[REDACTED]", lines[0])[:300] if lines else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
