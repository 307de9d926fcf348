"""The ``rindle`` command line: demo, upload, inspect, worker, expire, db, doctor.

Rich output for people, ``--json`` for scripts. Exit codes: 0 success, 1 the
operation failed (``error: SessionNotFound: …`` on stderr), 2 a usage or
configuration error.
"""

from __future__ import annotations

from ._main import cli, main

__all__ = ["cli", "main"]
