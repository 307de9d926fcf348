"""Expiring stale sessions on PostgreSQL: rindle's maintenance vs bare set-based SQL.

Run: ``python benchmarks/bench_expiry.py [--sizes 1000,10000,100000]
[--rounds 5,3,2] [--batch-size 1000] [--signed-share 0.1] [--postgres-url URL]
[--svg docs/img/bench-expiry.svg] [--markdown results.md]``

Each round starts from N stale single-PUT sessions whose deadline passed a
day ago, each with its staged asset, among 10,000 finished sessions that are
not due. Most never handed out a URL (no remote state: rindle asks storage
nothing about them); a share of them (``--signed-share``, 10 % by default)
did, and nothing was stored, so rindle HEADs each of those before marking
its cleanup done. No multipart or resumable uploads are involved.

* **rindle**: ``Broker.expire_sessions(batch_size=…)`` repeated until a pass
  moves nothing, as ``rindle expire`` runs it, with the local storage adapter
  (``rindle_core.local.LocalStorage``; a HEAD is a key check and a ``stat``).
  No observer is registered and logging is not configured, so, as in a
  deployment without either, no event object is built (nobody would
  receive it) and PostgreSQL moves each batch in one statement; with an
  observer, every transition's snapshots are built and its hooks called.
* **baseline**: what an operator would write by hand to reach the same rows:
  one transaction, two set-based ``UPDATE``\\ s (assets ``staged →
  abandoned``, sessions ``→ expired`` with their cleanup ``done``). It asks
  storage nothing, which reaches the same end state here only because
  nothing was stored.

After every run the end state is compared (states, reasons, cleanup columns
and asset states, timestamps aside) and the benchmark stops if the two sides
differ. Rounds interleave the sides (alternating which goes first); the
median per size is reported, with the ratio. Memory: the growth of the
process's resident set over each rindle run (sampled after every pass) and
the peak of ``ru_maxrss``. PostgreSQL is real (a schema of its own per run,
dropped at the end). Nothing here is asserted in the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _postgres import own_schema

from rindle_core import Broker, Database, Profile
from rindle_core.db import assets_table, sessions_table
from rindle_core.local import LocalStorage
from rindle_core.plugins import make_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "RINDLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
EXPIRABLE = ("initialized", "signed", "resuming", "uploading")
#: Sessions that are not due, present in every round (the index must skip them).
FINISHED = 10_000
_CHUNK = 5_000


# -- rows -------------------------------------------------------------------------------


def insert(db: Database, count: int, *, state: str, expires_at: dt.datetime) -> None:
    """*count* single-PUT sessions in *state* and their assets, in chunks."""
    created = expires_at - dt.timedelta(hours=1)
    asset_state = "staged" if state in EXPIRABLE else "available"
    with db.transaction() as conn:
        for start in range(0, count, _CHUNK):
            assets, sessions = [], []
            for _ in range(min(_CHUNK, count - start)):
                aid, sid = secrets.token_hex(16), secrets.token_hex(16)
                key = f"bench/{aid[:2]}/{aid}/file.bin"
                assets.append(
                    {
                        "id": aid,
                        "profile": "bench",
                        "state": asset_state,
                        "storage": "local",
                        "storage_key": key,
                        "filename": "file.bin",
                        "metadata": {},
                        "client_metadata": {},
                        "created_at": created,
                        "updated_at": created,
                    }
                )
                sessions.append(
                    {
                        "id": sid,
                        "asset_id": aid,
                        "profile": "bench",
                        "storage": "local",
                        "state": state,
                        "upload_key": key,
                        "upload_strategy": "presigned_put",
                        "content_type": "application/octet-stream",
                        "expires_at": expires_at,
                        "committed_bytes": 0,
                        "cleanup_attempts": 0,
                        "client_metadata": {},
                        "created_at": created,
                        "updated_at": created,
                    }
                )
            conn.execute(sa.insert(assets_table), assets)
            conn.execute(sa.insert(sessions_table), sessions)


def reset(db: Database, stale: int, now: dt.datetime, signed_share: float) -> None:
    with db.transaction() as conn:
        conn.execute(sa.text("TRUNCATE rindle_upload_parts, rindle_upload_sessions, rindle_assets"))
    insert(db, FINISHED, state="completed", expires_at=now - dt.timedelta(days=2))
    signed = round(stale * signed_share)
    insert(db, signed, state="signed", expires_at=now - dt.timedelta(days=1))
    insert(db, stale - signed, state="initialized", expires_at=now - dt.timedelta(days=1))
    with db.engine.connect() as conn:
        conn.execute(sa.text("ANALYZE rindle_upload_sessions"))
        conn.execute(sa.text("ANALYZE rindle_assets"))
        conn.commit()


def end_state(db: Database) -> list[tuple[Any, ...]]:
    """What both sides must agree on (timestamps aside)."""
    s, a = sessions_table, assets_table
    query = (
        sa.select(
            s.c.state,
            s.c.failure_reason,
            s.c.remote_cleanup,
            s.c.cleanup_at.is_(None),
            s.c.cleanup_attempts,
            s.c.session_uri.is_(None),
            a.c.state,
            sa.func.count(),
        )
        .join(a, a.c.id == s.c.asset_id)
        .group_by(
            s.c.state,
            s.c.failure_reason,
            s.c.remote_cleanup,
            s.c.cleanup_at.is_(None),
            s.c.cleanup_attempts,
            s.c.session_uri.is_(None),
            a.c.state,
        )
        .order_by(s.c.state, a.c.state)
    )
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(query)]


# -- the two sides ----------------------------------------------------------------------


def rss_kib() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def rindle_side(broker: Broker, batch_size: int) -> tuple[int, int]:
    """Drain as ``rindle expire`` does; (sessions expired, RSS growth in KiB)."""
    before = peak = rss_kib()
    expired = 0
    while True:
        report = broker.expire_sessions(batch_size=batch_size)
        expired += len(report.expired_session_ids)
        peak = max(peak, rss_kib())
        if not report.progressed:
            return expired, peak - before


BY_HAND = (
    """
    UPDATE rindle_assets AS a SET state = 'abandoned', updated_at = :now
    FROM rindle_upload_sessions AS s
    WHERE s.asset_id = a.id AND a.state = 'staged'
      AND s.state IN ('initialized', 'signed', 'resuming', 'uploading') AND s.expires_at <= :now
    """,
    """
    UPDATE rindle_upload_sessions
    SET state = 'expired', failure_reason = 'expired', remote_cleanup = 'done',
        cleanup_at = NULL, cleanup_attempts = 0, session_uri = NULL, updated_at = :now
    WHERE state IN ('initialized', 'signed', 'resuming', 'uploading') AND expires_at <= :now
    """,
)


def baseline_side(engine: sa.Engine) -> int:
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(sa.text(BY_HAND[0]), {"now": now})
        return conn.execute(sa.text(BY_HAND[1]), {"now": now}).rowcount


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = run()
    return time.perf_counter() - began, result


# -- output -----------------------------------------------------------------------------


def plot(path: Path, sizes: list[int], seconds: dict[str, list[float]]) -> None:
    """A hand-written SVG: expiry time by session count (log-log), one line per side."""
    import math

    width, height, left, bottom, top, right = 600, 360, 70, 60, 40, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    low = 10 ** math.floor(math.log10(min(min(v) for v in seconds.values())))
    high = 10 ** math.ceil(math.log10(max(max(v) for v in seconds.values())))
    xs = [math.log10(n) for n in sizes]
    x_lo, x_hi = min(xs) - 0.15, max(xs) + 0.15

    def x_of(n: int) -> float:
        return left + plot_w * (math.log10(n) - x_lo) / (x_hi - x_lo)

    def y_of(s: float) -> float:
        span = math.log10(high) - math.log10(low)
        return top + plot_h - plot_h * (math.log10(s) - math.log10(low)) / span

    colours = {"rindle": "#2b6cb0", "baseline": "#a0aec0"}
    labels = {"rindle": "rindle (Broker.expire_sessions)", "baseline": "bare set-based SQL"}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14">'
        "expiring stale sessions on PostgreSQL: seconds (median, log scale)</text>",
    ]
    decade = low
    while decade <= high * 1.0001:
        y = y_of(decade)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>'
        )
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{decade:g}</text>')
        decade *= 10
    for n in sizes:
        parts.append(
            f'<text x="{x_of(n):.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
            f"{n:,} sessions</text>"
        )
    for name, values in seconds.items():
        points = " ".join(
            f"{x_of(n):.1f},{y_of(s):.1f}" for n, s in zip(sizes, values, strict=True)
        )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colours[name]}" stroke-width="2"/>'
        )
        for n, s in zip(sizes, values, strict=True):
            parts.append(f'<circle cx="{x_of(n):.1f}" cy="{y_of(s):.1f}" r="3.5" '
                         f'fill="{colours[name]}"/>')  # fmt: skip
            parts.append(
                f'<text x="{x_of(n) + 6:.1f}" y="{y_of(s) - 6:.1f}" font-size="10">{s:.2f} s</text>'
            )
    legend_y = height - 14
    for i, (name, colour) in enumerate(colours.items()):
        x = left + i * 230
        parts.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 18}" y="{legend_y}">{labels[name]}</text>')
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="stale sessions per round")
    parser.add_argument("--rounds", default="5,3,2", help="rounds per size (median)")
    parser.add_argument("--batch-size", type=int, default=1000, help="rindle's batch size")
    parser.add_argument(
        "--signed-share",
        type=float,
        default=0.1,
        help="share of the stale sessions that handed out a URL (rindle HEADs each)",
    )
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--svg", type=Path, default=ROOT / "docs" / "img" / "bench-expiry.svg")
    parser.add_argument("--markdown", type=Path, help="also write the results as markdown here")
    # `nox -s bench -- …` passes the same arguments to every benchmark.
    args, _ = parser.parse_known_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    rounds = [int(r) for r in args.rounds.split(",")]
    rounds += [rounds[-1]] * (len(sizes) - len(rounds))

    try:
        sa.create_engine(args.postgres_url).connect().close()
    except Exception as exc:  # any failure means "no server"
        print(f"bench_expiry: skipped, PostgreSQL is not reachable ({type(exc).__name__})")
        return

    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text)
        sys.stdout.flush()
        lines.append(text)

    with own_schema(args.postgres_url) as schema, tempfile.TemporaryDirectory() as root:
        db = Database(args.postgres_url, connect_args={"options": f"-csearch_path={schema}"})
        db.create_all()
        broker = Broker(
            db,
            profiles=[Profile(name="bench", storage="local")],
            storages={"local": LocalStorage(root, base_url="http://127.0.0.1:9")},
            plugin_manager=make_plugin_manager(load_entrypoints=False),
        )
        try:
            say(
                f"python {platform.python_version()} on {platform.machine()} "
                f"({os.cpu_count()} CPUs), SQLAlchemy {sa.__version__}, PostgreSQL at "
                f"{db.engine.url.host}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; "
                f"rindle batch size {args.batch_size}; {FINISHED:,} finished sessions "
                "in the table besides the stale ones"
            )
            say()
            say(
                "| stale sessions | rounds | rindle s | bare SQL s | rindle ÷ SQL "
                "| rindle sessions/s | RSS growth (rindle) |"
            )
            say("|---:|---:|---:|---:|---:|---:|---:|")
            medians: dict[str, list[float]] = {"rindle": [], "baseline": []}
            for size, count in zip(sizes, rounds, strict=True):
                times: dict[str, list[float]] = {"rindle": [], "baseline": []}
                growth: list[int] = []
                states: dict[str, list[tuple[Any, ...]]] = {}
                for r in range(count):
                    order = ["rindle", "baseline"] if r % 2 == 0 else ["baseline", "rindle"]
                    for side in order:
                        reset(db, size, dt.datetime.now(dt.UTC), args.signed_share)
                        if side == "rindle":
                            took, (moved, grew) = timed(
                                lambda: rindle_side(broker, args.batch_size)
                            )
                            growth.append(grew)
                        else:
                            took, moved = timed(lambda: baseline_side(db.engine))
                        if moved != size:
                            raise SystemExit(f"{side} expired {moved} of {size} sessions")
                        times[side].append(took)
                        states[side] = end_state(db)
                    if states["rindle"] != states["baseline"]:
                        raise SystemExit(f"the end states differ: {states}")
                m = {side: statistics.median(v) for side, v in times.items()}
                for side, value in m.items():
                    medians[side].append(value)
                say(
                    f"| {size:,} | {count} | {m['rindle']:.2f} | {m['baseline']:.2f} | "
                    f"{m['rindle'] / m['baseline']:.2f}\u00d7 | {size / m['rindle']:,.0f} | "
                    f"{max(growth) / 1024:.1f} MiB |"
                )
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            say()
            say(f"Peak RSS of the whole benchmark process: {peak:.0f} MiB.")
            plot(args.svg, sizes, medians)
            shown = args.svg.relative_to(ROOT) if args.svg.is_relative_to(ROOT) else args.svg
            say(f"Plot: {shown}")
        finally:
            db.dispose()
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
