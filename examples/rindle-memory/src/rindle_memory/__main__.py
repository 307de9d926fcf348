"""``python -m rindle_memory``: serve an in-memory object store until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import threading
from collections.abc import Sequence
from pathlib import Path

from ._server import MemoryServer


def main(argv: Sequence[str] | None = None) -> None:
    """Serve on 127.0.0.1 and print the URL; the secret is read from (or written to) a file."""
    parser = argparse.ArgumentParser(prog="python -m rindle_memory", description=__doc__)
    parser.add_argument("--port", type=int, default=9050, help="0 picks a free port")
    parser.add_argument("--bucket", action="append", help="a bucket to create (repeatable)")
    parser.add_argument(
        "--secret-file",
        type=Path,
        required=True,
        help="the signing secret; created (mode 0600) with a random one if missing",
    )
    args = parser.parse_args(argv)
    with MemoryServer(
        secret=_secret(args.secret_file), buckets=args.bucket or ["rindle"], port=args.port
    ) as server:
        print(f"serving {server.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


def _secret(path: Path) -> str:
    if not path.exists():
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text(encoding="utf-8").strip()


if __name__ == "__main__":
    main()
