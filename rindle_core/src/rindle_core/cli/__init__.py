"""The ``rindle`` command line: demo, serve, upload, inspect, worker, expire, db, doctor.

Rich output for people, ``--json`` for scripts. Exit codes: 0 success, 1 the
operation failed (``error: SessionNotFound: …`` on stderr), 2 a usage or
configuration error.

The command line needs the ``cli`` extra (click, rich, httpx:
``pip install "rindle-core[cli]"``); a server that only runs the broker does
not. This module imports none of them until the command group is asked for,
so ``main`` can name the extra instead of failing with a traceback.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._main import cli

__all__ = ["cli", "main"]

# What the ``cli`` extra installs, by import name.
_CLI_EXTRA_MODULES = frozenset({"click", "rich", "httpx"})
_INSTALL_HINT = 'pip install "rindle-core[cli]"'


def main() -> None:
    """Console-script entry point.

    Without the ``cli`` extra, prints one line naming it and exits 2.
    """
    try:
        # Commands import what they use when they run; ask for the whole extra
        # up front (without importing it) so a missing piece is named here.
        for name in sorted(_CLI_EXTRA_MODULES):
            if importlib.util.find_spec(name) is None:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        from ._main import main as run
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in _CLI_EXTRA_MODULES:
            raise
        print(
            f"error: the rindle command line needs the 'cli' extra ({missing} is not "
            f"installed): {_INSTALL_HINT}",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    run()


def __getattr__(name: str) -> object:
    # ``from rindle_core.cli import cli`` imports click only when asked for.
    if name == "cli":
        from ._main import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
