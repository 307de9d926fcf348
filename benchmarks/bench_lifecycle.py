"""A whole presigned-PUT lifecycle on PostgreSQL: rindle's broker vs the same work by hand.

Run: ``python benchmarks/bench_lifecycle.py [--rounds 11] [--threads 1,4,16]
[--lifecycles 120] [--postgres-url URL] [--svg docs/img/bench-lifecycle.svg]
[--markdown results.md]`` (PostgreSQL defaults to ``RINDLE_TEST_POSTGRES_URL``;
without a server the benchmark says so and skips).

One lifecycle is initiate → sign → verify of one upload:

* **rindle**: ``Broker.initiate_session`` → ``sign_url`` → ``verify_completion``
  with the S3 adapter (``rindle_s3.S3Storage``), ``job_mode="worker"`` (the
  promotion job is enqueued, not run).
* **baseline**, what an app writes by hand with boto3 and SQLAlchemy Core,
  into the same tables: insert the asset and session rows in one
  transaction; read the session, mark it signed and presign the PUT with
  boto3's ``generate_presigned_url`` (Content-Type, Content-Length and
  ``If-None-Match: *`` bound, as rindle binds them); read the session, HEAD
  the object, then in one transaction mark the session completed, the asset
  validating and insert the promotion job.

The client's PUT is done by neither side. Both HEAD the object through a
boto3 client whose transport is an in-process fake (a botocore
``before-send`` hook answering 200 with the object's headers), so storage
costs both sides the same: botocore builds, signs and parses the request,
and no network is involved. PostgreSQL is real (a schema of its own per run,
dropped at the end); both sides use engines with the same pool.

Short rounds interleave the two sides (alternating which goes first) at
each thread count; the median of the rounds is reported, with the CPU each
lifecycle cost this process and (on Linux, with a local server) the
PostgreSQL backends of that side. Before timing, the statements each call
sends (SQLAlchemy events: every cursor execute, plus BEGIN/COMMIT/ROLLBACK
where the driver sends them) are printed for both sides. Nothing here is
asserted in the test suite: timings are noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import boto3
import botocore
import sqlalchemy as sa
from _postgres import own_schema
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from rindle_core import Broker, Database, Profile
from rindle_core.db import assets_table, jobs_table, sessions_table
from rindle_core.plugins import make_plugin_manager
from rindle_s3 import S3Storage

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "uploads-bench"
REGION = "eu-west-1"
#: Nothing listens here: any request the fake does not answer fails loudly.
ENDPOINT = "http://127.0.0.1:9"
CREDS = {
    "aws_access_key_id": "AKIDBENCHMARK0000000",
    "aws_secret_access_key": "benchmark/secret+key/0000000000000000000",
}
BODY = b"%PDF-1.7 benchmark"
FILENAME = "report.pdf"
CONTENT_TYPE = "application/pdf"
POSTGRES_URL = os.environ.get(
    "RINDLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


# -- the storage side, the same for both --------------------------------------------


class _EmptyBody:
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b""


def _fake_head(request: Any, **_: Any) -> AWSResponse | None:
    """Answer HeadObject as S3 would for a stored object (no network)."""
    if request.method != "HEAD":
        return None
    headers = {
        "ETag": '"6f1c8f0e5b1d4a3c9e7f000000000000"',
        "Content-Length": str(len(BODY)),
        "Content-Type": CONTENT_TYPE,
        "Last-Modified": "Mon, 30 Nov 2026 10:00:00 GMT",
    }
    return AWSResponse(request.url, 200, headers, _EmptyBody())


def boto_session() -> boto3.Session:
    session = boto3.Session(region_name=REGION, **CREDS)
    session.events.register("before-send.s3.HeadObject", _fake_head)
    return session


# -- the two sides ------------------------------------------------------------------


def _options(engine_options: dict[str, Any], application: str) -> dict[str, Any]:
    connect_args = {**engine_options.get("connect_args", {}), "application_name": application}
    return {**engine_options, "connect_args": connect_args}


class Rindle:
    name = "rindle"

    def __init__(self, url: str, engine_options: dict[str, Any], application: str) -> None:
        self.application = application
        self.db = Database(url, **_options(engine_options, application))
        storage = S3Storage(
            BUCKET,
            region=REGION,
            endpoint_url=ENDPOINT,
            addressing_style="path",
            session=boto_session(),
        )
        self.broker = Broker(
            self.db,
            profiles=[Profile(name="bench", storage="s3")],
            storages={"s3": storage},
            plugin_manager=make_plugin_manager(load_entrypoints=False),
            job_mode="worker",
        )

    @property
    def engine(self) -> sa.Engine:
        return self.db.engine

    def initiate(self) -> str:
        session = self.broker.initiate_session(
            "bench", filename=FILENAME, content_type=CONTENT_TYPE, size=len(BODY)
        )
        return session.id

    def sign(self, session_id: str) -> str:
        return self.broker.sign_url(session_id).presigned.url

    def verify(self, session_id: str) -> None:
        self.broker.verify_completion(session_id)

    def close(self) -> None:
        self.broker.close()


class ByHand:
    """What an app writes without rindle: boto3 and SQLAlchemy Core, one
    transaction per unit of work, storage I/O outside transactions."""

    name = "baseline"

    def __init__(self, url: str, engine_options: dict[str, Any], application: str) -> None:
        self.application = application
        self.engine = sa.create_engine(url, **_options(engine_options, application))
        self.client = boto_session().client(
            "s3",
            endpoint_url=ENDPOINT,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def initiate(self) -> str:
        now = dt.datetime.now(dt.UTC)
        asset_id, session_id = uuid.uuid4().hex, uuid.uuid4().hex
        key = f"bench/{asset_id}/{FILENAME}"
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(assets_table).values(
                    id=asset_id,
                    profile="bench",
                    state="staged",
                    storage="s3",
                    storage_key=key,
                    filename=FILENAME,
                    declared_content_type=CONTENT_TYPE,
                    metadata={"declared_size": len(BODY)},
                    client_metadata={},
                    created_at=now,
                    updated_at=now,
                )
            )
            conn.execute(
                sa.insert(sessions_table).values(
                    id=session_id,
                    asset_id=asset_id,
                    profile="bench",
                    storage="s3",
                    state="initialized",
                    upload_key=key,
                    upload_strategy="presigned_put",
                    content_type=CONTENT_TYPE,
                    declared_size=len(BODY),
                    expires_at=now + dt.timedelta(hours=1),
                    committed_bytes=0,
                    cleanup_attempts=0,
                    client_metadata={},
                    created_at=now,
                    updated_at=now,
                )
            )
        return session_id

    def sign(self, session_id: str) -> str:
        s = sessions_table.c
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(s.upload_key, s.content_type, s.declared_size, s.state).where(
                    s.id == session_id
                )
            ).one()
            if row.state == "initialized":
                conn.execute(
                    sa.update(sessions_table)
                    .where(s.id == session_id, s.state == "initialized")
                    .values(state="signed", updated_at=dt.datetime.now(dt.UTC))
                )
        return str(
            self.client.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": BUCKET,
                    "Key": row.upload_key,
                    "ContentType": row.content_type,
                    "ContentLength": row.declared_size,
                    "IfNoneMatch": "*",
                },
                ExpiresIn=900,
            )
        )

    def verify(self, session_id: str) -> None:
        s = sessions_table.c
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(s.upload_key, s.asset_id).where(s.id == session_id)).one()
        head = self.client.head_object(Bucket=BUCKET, Key=row.upload_key)
        now = dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            moved = conn.execute(
                sa.update(sessions_table)
                .where(s.id == session_id, s.state == "signed")
                .values(
                    state="completed",
                    verified_at=now,
                    committed_bytes=head["ContentLength"],
                    updated_at=now,
                )
            )
            if moved.rowcount != 1:
                raise RuntimeError("the session was not signed")
            conn.execute(
                sa.update(assets_table)
                .where(assets_table.c.id == row.asset_id, assets_table.c.state == "staged")
                .values(
                    state="validating",
                    byte_size=head["ContentLength"],
                    content_type=head["ContentType"],
                    stored_version=head["ETag"],
                    served_content_type=head["ContentType"],
                    updated_at=now,
                )
            )
            conn.execute(
                sa.insert(jobs_table).values(
                    id=uuid.uuid4().hex,
                    kind="promote",
                    dedupe_key=f"promote:{row.asset_id}",
                    payload={"asset_id": row.asset_id},
                    state="pending",
                    attempts=0,
                    max_attempts=10,
                    run_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )

    def close(self) -> None:
        self.engine.dispose()


Side = Rindle | ByHand


def lifecycle(side: Side) -> None:
    session_id = side.initiate()
    side.sign(session_id)
    side.verify(session_id)


# -- counting statements -------------------------------------------------------------


def _autocommit(conn: sa.Connection) -> bool:
    options = conn.get_execution_options()
    return bool(options.get("rindle_autocommit") or options.get("isolation_level") == "AUTOCOMMIT")


@contextlib.contextmanager
def counting(engine: sa.Engine) -> Iterator[list[str]]:
    """The round trips *engine* makes in the block (BEGIN/COMMIT/ROLLBACK
    only where the driver sends them: not on autocommit connections)."""
    sent: list[str] = []

    def statement(conn: sa.Connection, _c: Any, text: str, *_: Any) -> None:
        sent.append(" ".join(text.split()[:2]).rstrip(","))

    def marker(word: str) -> Callable[[sa.Connection], None]:
        def record(conn: sa.Connection) -> None:
            if not _autocommit(conn):
                sent.append(word)

        return record

    listeners: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", statement),
        ("begin", marker("BEGIN")),
        ("commit", marker("COMMIT")),
        ("rollback", marker("ROLLBACK")),
    ]
    for name, fn in listeners:
        sa.event.listen(engine, name, fn)
    try:
        yield sent
    finally:
        for name, fn in listeners:
            sa.event.remove(engine, name, fn)


def statements_per_call(side: Side) -> dict[str, list[str]]:
    lifecycle(side)  # warm: first connections, caches
    sent: dict[str, list[str]] = {}
    with counting(side.engine) as sent["initiate"]:
        session_id = side.initiate()
    with counting(side.engine) as sent["sign"]:
        side.sign(session_id)
    with counting(side.engine) as sent["verify"]:
        side.verify(session_id)
    return sent


# -- timing --------------------------------------------------------------------------


class ServerCPU:
    """CPU seconds PostgreSQL's backends spent for one side (Linux, local server only).

    Each side's connections carry their own ``application_name``; their
    backends' user + system time is read from ``/proc``.
    """

    def __init__(self, url: str) -> None:
        self._admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def seconds(self, application: str) -> float | None:
        query = sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name")
        with self._admin.connect() as conn:
            pids = list(conn.execute(query, {"name": application}).scalars())
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return None  # not a local server, or no /proc
            total += int(fields[11]) + int(fields[12])
        return total / self._tick

    def close(self) -> None:
        self._admin.dispose()


@attrs.frozen
class Round:
    rate: float  # lifecycles per second
    client_ms: float  # this process's CPU per lifecycle
    server_ms: float | None  # PostgreSQL's CPU per lifecycle


def measure(side: Side, threads: int, lifecycles: int, server: ServerCPU) -> Round:
    """One timed round: *lifecycles* split over *threads* threads."""
    each = max(1, lifecycles // threads)
    start = threading.Barrier(threads + 1)

    def work() -> None:
        start.wait()
        for _ in range(each):
            lifecycle(side)

    server_before = server.seconds(side.application)
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(work) for _ in range(threads)]
        start.wait()
        began, cpu = time.perf_counter(), time.process_time()
        for future in futures:
            future.result()
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    server_after = server.seconds(side.application)
    done = each * threads
    server_ms = (
        (server_after - server_before) / done * 1000
        if server_before is not None and server_after is not None
        else None
    )
    return Round(done / elapsed, cpu / done * 1000, server_ms)


def plot(path: Path, threads: list[int], rates: dict[str, list[float]]) -> None:
    """A hand-written SVG: lifecycles/s by thread count, one bar per side."""
    width, height, left, bottom, top = 560, 320, 70, 50, 40
    plot_w, plot_h = width - left - 20, height - top - bottom
    peak = max(max(v) for v in rates.values()) * 1.15
    colours = {"rindle": "#2b6cb0", "baseline": "#a0aec0"}
    group = plot_w / len(threads)
    bar = group / 3
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14">'
        "presigned-PUT lifecycles per second on PostgreSQL (median)</text>",
    ]
    for i in range(5):
        value = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{left}" x2="{width - 20}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>'
        )
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:.0f}</text>')
    for g, count in enumerate(threads):
        x0 = left + g * group + bar / 2
        for b, (name, values) in enumerate(rates.items()):
            h = plot_h * values[g] / peak
            x = x0 + b * bar
            y = top + plot_h - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colours[name]}"/>'
            )
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                f'font-size="10">{values[g]:.0f}</text>'
            )
        parts.append(
            f'<text x="{x0 + bar:.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
            f"{count} thread{'s' if count > 1 else ''}</text>"
        )
    legend_y = height - 12
    for i, (name, colour) in enumerate(colours.items()):
        x = left + i * 150
        parts.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"/>')
        label = "rindle (Broker + rindle_s3)" if name == "rindle" else "boto3 + SQL by hand"
        parts.append(f'<text x="{x + 18}" y="{legend_y}">{label}</text>')
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11, help="timed rounds per side (median)")
    parser.add_argument("--threads", default="1,4,16", help="thread counts, comma-separated")
    parser.add_argument(
        "--lifecycles", type=int, default=120, help="lifecycles per round (at least 16 a thread)"
    )
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--svg", type=Path, default=ROOT / "docs" / "img" / "bench-lifecycle.svg")
    parser.add_argument("--markdown", type=Path, help="also write the results as markdown here")
    # `nox -s bench -- …` passes the same arguments to every benchmark.
    args, _ = parser.parse_known_args()
    threads = [int(t) for t in args.threads.split(",")]

    try:
        sa.create_engine(args.postgres_url).connect().close()
    except Exception as exc:  # any failure means "no server"
        print(f"bench_lifecycle: skipped, PostgreSQL is not reachable ({type(exc).__name__})")
        return

    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text)
        lines.append(text)

    with own_schema(args.postgres_url) as schema:
        options: dict[str, Any] = {
            "connect_args": {"options": f"-csearch_path={schema}"},
            "pool_size": max(threads) + 4,
            "max_overflow": 0,
        }
        rindle = Rindle(args.postgres_url, options, f"{schema}_rindle")
        rindle.db.create_all()
        baseline = ByHand(args.postgres_url, options, f"{schema}_baseline")
        sides: list[Side] = [rindle, baseline]
        server = ServerCPU(args.postgres_url)
        try:
            say(
                f"python {platform.python_version()} on {platform.machine()} "
                f"({os.cpu_count()} CPUs), SQLAlchemy {sa.__version__}, botocore "
                f"{botocore.__version__}, PostgreSQL at {rindle.db.engine.url.host}; "
                f"{date()}"
            )
            say()
            say("Statements per call (SQLAlchemy events; BEGIN/COMMIT/ROLLBACK as sent):")
            say()
            say("| call | rindle | baseline |")
            say("|---|---:|---:|")
            counted = {side.name: statements_per_call(side) for side in sides}
            for call in ("initiate", "sign", "verify"):
                say(
                    f"| {call} | {len(counted['rindle'][call])} | "
                    f"{len(counted['baseline'][call])} |"
                )
            total = {n: sum(len(v) for v in c.values()) for n, c in counted.items()}
            say(f"| **lifecycle** | **{total['rindle']}** | **{total['baseline']}** |")
            say()
            for name, calls in counted.items():
                for call, sent in calls.items():
                    say(f"- {name} {call}: {', '.join(sent)}")
            say()
            rates: dict[str, list[float]] = {"rindle": [], "baseline": []}
            cpu_rows: list[str] = []
            say(
                f"Lifecycles per second (median of {args.rounds} interleaved rounds of "
                f"max({args.lifecycles}, 16 per thread) lifecycles):"
            )
            say()
            say("| threads | rindle /s | baseline /s | rindle ÷ baseline |")
            say("|---:|---:|---:|---:|")
            for count in threads:
                rounds: dict[str, list[Round]] = {"rindle": [], "baseline": []}
                for _ in range(3):  # warm the pool to this many connections
                    for side in sides:
                        measure(side, count, count * 4, server)
                # Short rounds, alternating which side goes first: load that
                # comes and goes on the machine falls on both sides alike.
                size = max(args.lifecycles, 16 * count)
                for r in range(args.rounds):
                    for side in sides if r % 2 == 0 else sides[::-1]:
                        rounds[side.name].append(measure(side, count, size, server))
                rate = {n: statistics.median(x.rate for x in v) for n, v in rounds.items()}
                for name, value in rate.items():
                    rates[name].append(value)
                say(
                    f"| {count} | {rate['rindle']:.0f} | {rate['baseline']:.0f} | "
                    f"{rate['rindle'] / rate['baseline']:.2f}x |"
                )
                cpu_rows.append(f"| {count} | " + " | ".join(_cpu(rounds[n]) for n in rates) + " |")
                sys.stdout.flush()
            say()
            say(
                "CPU per lifecycle, ms (median of the same rounds): this process, "
                "and PostgreSQL's backends for that side (read from /proc):"
            )
            say()
            say("| threads | rindle client | rindle server | baseline client | baseline server |")
            say("|---:|---:|---:|---:|---:|")
            for row in cpu_rows:
                say(row)
            plot(args.svg, threads, rates)
            say()
            shown = args.svg.relative_to(ROOT) if args.svg.is_relative_to(ROOT) else args.svg
            say(f"Plot: {shown}")
        finally:
            for side in sides:
                side.close()
            server.close()
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _cpu(rounds: list[Round]) -> str:
    client = statistics.median(r.client_ms for r in rounds)
    servers = [r.server_ms for r in rounds if r.server_ms is not None]
    server = f"{statistics.median(servers):.2f}" if servers else "n/a"
    return f"{client:.2f} | {server}"


def date() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


if __name__ == "__main__":
    main()
