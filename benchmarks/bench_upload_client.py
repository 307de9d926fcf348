"""Upload speed and memory: rindle's client vs boto3's upload_file (s3transfer), same server.

Run: ``python benchmarks/bench_upload_client.py [--rounds 3] [--big-mib 512] [--put-mib 100]
[--cases all|tiny]`` (``tiny``: only the 1 KiB and ``--version`` rows)

Both clients upload to one moto S3 server (``ThreadedMotoServer``) on
127.0.0.1, so moto's own speed bounds both. Each upload runs in a fresh
child process (its peak RSS read from ``VmHWM``); one unmeasured warm-up
upload each first, the bucket emptied after every case, rounds interleaved
and medians reported:

* multipart (``--big-mib``): ``boto3.upload_file`` with the default
  ``TransferConfig`` vs ``UploadClient.upload_parts`` on presigned parts of
  the same size (8 MiB, s3transfer's default chunk), with create/complete
  (the storage's API calls get botocore's default 60 s read timeout, as
  boto3's side does). Both send a CRC32 with every part of an upload created
  with ``ChecksumAlgorithm=CRC32`` (boto3's default; rindle's
  ``part_checksums``, ADR 0135);
* the same multipart, boto3 with ``request_checksum_calculation="when_required"``
  (no checksums): moto assembles an upload created without a checksum
  algorithm through one more whole-object copy, which this row shows;
* single PUT (``--put-mib``): ``upload_file`` with a threshold above the size
  (so s3transfer sends one PUT) vs ``UploadClient.put`` on a presigned PUT;
* 1 KiB: the whole process, start-up included: ``python -c`` boto3
  ``upload_file`` vs ``rindle upload`` (configured for that moto bucket),
  both through a forwarding front (``rindle_core.testing.CheckingFront``)
  that records when the upload's PUT reaches it: "start" is the time from
  launching the process to that moment, reported with the whole process's
  time;
* 1 KiB through an app: ``rindle upload --api`` against a running
  ``rindle serve`` (the same configuration, its demo cookie sent with
  ``--header``): the command talks to the app's upload API and imports
  neither SQLAlchemy nor a cloud SDK; compared with boto3's process the
  same way;
* ``rindle --version``: the process's wall time.

Times of the module calls are measured inside the child around the upload
call (imports excluded, as for a long-running uploader); the 1 KiB and
``--version`` rows are whole processes, run with bytecode cached (in the
temporary directory) as for an installed package. Files live in a temporary
directory, removed at the end. Nothing here is asserted by the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

BUCKET = "bench"
KEYS = {"AWS_ACCESS_KEY_ID": "AKIDBENCH", "AWS_SECRET_ACCESS_KEY": "not-a-secret"}
PART = 8 * 1024 * 1024

BOTO3 = """
import sys, time, json, boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
endpoint, path, key, threshold, checksums = sys.argv[1:6]
client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"},
                                    request_checksum_calculation=checksums))
config = TransferConfig() if threshold == "default" else TransferConfig(
    multipart_threshold=int(threshold))
started = time.perf_counter()
client.upload_file(path, "{bucket}", key, Config=config)
print(json.dumps({"seconds": time.perf_counter() - started}))
""".replace("{bucket}", BUCKET)

RINDLE = """
import sys, time, json, os
from rindle_core.client import UploadClient
from rindle_core.storage import PartChecksum
from rindle_s3 import S3Storage
endpoint, path, key, mode = sys.argv[1:5]
# read_timeout as botocore's default (boto3's side has it): moto takes seconds
# to assemble a 512 MiB object, and rindle's 10 s default would retry the call.
storage = S3Storage("{bucket}", endpoint_url=endpoint, region="us-east-1",
                    addressing_style="path", read_timeout=60, part_checksums=True)
size = os.path.getsize(path)
part = {part}
started = time.perf_counter()
with UploadClient() as client:
    if mode == "put":
        request = storage.presign_put(key, content_type="application/octet-stream",
                                      content_length=size, expires_in=3600)
        client.put(request, path)
    else:
        upload = storage.create_multipart(key, content_type="application/octet-stream",
                                          checksum_algorithm="crc32")
        def sign(numbers, checksums):
            return [storage.presign_part(key, upload.upload_id, n, expires_in=3600,
                                         content_length=min(part, size - (n - 1) * part),
                                         checksum=PartChecksum("crc32", value))
                    for n, value in zip(numbers, checksums)]
        parts = client.upload_parts(path, part_size=part, sign=sign, checksum_algorithm="crc32")
        storage.complete_multipart(key, upload.upload_id, parts,
                                   content_type="application/octet-stream")
print(json.dumps({"seconds": time.perf_counter() - started}))
""".replace("{bucket}", BUCKET).replace("{part}", str(PART))

BOTO3_TINY = """
import sys, boto3
from botocore.config import Config
endpoint, path, key = sys.argv[1:4]
boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
             config=Config(s3={"addressing_style": "path"})).upload_file(path, "{bucket}", key)
""".replace("{bucket}", BUCKET)

CONFIG = """
database_url = "sqlite:///{db}"
[storage.bench]
type = "s3"
bucket = "{bucket}"
endpoint_url = "{endpoint}"
addressing_style = "path"
region = "us-east-1"
[profiles.bench]
storage = "bench"
"""


#: Prepended to every child: at exit it reports its peak RSS (VmHWM). Not
#: ru_maxrss: Linux carries that over from the forking parent across exec.
PEAK = """
import atexit as _atexit, sys as _sys
def _peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            _sys.stderr.write("\\nVMHWM=" + line.split()[1] + "\\n")
_atexit.register(_peak)
"""
#: ``rindle ARGS``, exactly as its console script runs it.
CLI = "import sys\nsys.argv = ['rindle', *sys.argv[1:]]\nfrom rindle_core.cli import main\nmain()\n"


def _measured(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Run ``python -c CODE ARGS``; return (wall seconds, peak RSS in MiB, stdout)."""
    py, flag, code, *rest = argv
    started = time.perf_counter()
    done = subprocess.run([py, flag, PEAK + code, *rest], cwd=cwd, env=env, capture_output=True)
    wall = time.perf_counter() - started
    err = done.stderr.decode()
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(rest[:3])} failed:\n{err[-2000:]}")
    peak_kib = int(err.rsplit("VMHWM=", 1)[1].split()[0])
    return wall, peak_kib / 1024, done.stdout.decode()


class _App(NamedTuple):
    """A running ``rindle serve``: its upload API's URL and the demo cookie it admits."""

    api: str
    cookie: str


@contextlib.contextmanager
def _serving(rindle: str, work: Path, env: dict[str, str]) -> Iterator[_App]:
    """``rindle serve --port 0`` in *work* until the block ends (the app of the --api row)."""
    proc = subprocess.Popen(
        [rindle, "serve", "--port", "0"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "rindle serve: open http://127.0.0.1:PORT/ ..."
        if not line.startswith("rindle serve: open "):
            raise SystemExit(f"rindle serve did not start: {line!r}")
        base = line.split()[3].rstrip("/")
        with urllib.request.urlopen(base + "/") as page:  # the page hands out the cookie
            cookie = page.headers["Set-Cookie"].split(";", 1)[0]
        yield _App(base + "/api", cookie)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _file(path: Path, mib: float) -> Path:
    block = os.urandom(1024 * 1024)
    with path.open("wb") as fh:
        whole, rest = divmod(int(mib * 1024 * 1024), len(block))
        for _ in range(whole):
            fh.write(block)
        fh.write(block[:rest])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big-mib", type=float, default=512)
    parser.add_argument("--put-mib", type=float, default=100)
    parser.add_argument("--cases", choices=("all", "tiny"), default="all")
    args = parser.parse_args()
    big_cases = args.cases == "all"

    import boto3
    from moto.server import ThreadedMotoServer

    from rindle_core.testing import CheckingFront

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    endpoint = f"http://127.0.0.1:{port}"
    # The tiny uploads go through a front that notes when their PUT arrives.
    arrivals: list[float] = []

    def note_put(method: str, host: str, target: str, headers: object) -> None:
        if method == "PUT":
            arrivals.append(time.time())
        return None  # forward everything

    front = CheckingFront(endpoint, marker="/", refuse=note_put)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RINDLE_"))}}
    env.update(KEYS, AWS_EC2_METADATA_DISABLED="true", RINDLE_LOAD_PLUGINS="rindle-s3")
    # Byte-compiled modules, as an installed package has them: an editable
    # checkout run with PYTHONDONTWRITEBYTECODE would compile rindle's
    # sources in every process. The cache lives in the temporary directory.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    admin = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="a",
        aws_secret_access_key="b",
    )  # fmt: skip
    admin.create_bucket(Bucket=BUCKET)
    work = Path(tempfile.mkdtemp(prefix="rindle-bench-"))
    stack = contextlib.ExitStack()
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    py = sys.executable
    rindle = str(Path(py).with_name("rindle"))
    try:
        big = _file(work / "big.bin", args.big_mib if big_cases else 0)
        put = _file(work / "put.bin", args.put_mib if big_cases else 0)
        tiny = _file(work / "tiny.bin", 1 / 1024)
        (work / "rindle.toml").write_text(
            CONFIG.format(db=work / "rindle.db", bucket=BUCKET, endpoint=front.url)
        )
        subprocess.run([rindle, "db", "upgrade"], cwd=work, env=env, check=True,
                       capture_output=True)  # fmt: skip
        app = stack.enter_context(_serving(rindle, work, env))
        api = [py, "-c", CLI, "upload", "--json", "--no-progress", "--api", app.api, "-p",
               "bench", "--header", f"Cookie: {app.cookie}", str(tiny)]  # fmt: skip
        rows: dict[str, list[tuple[float, float]]] = {}

        def record(name: str, seconds: float, rss: float) -> None:
            rows.setdefault(name, []).append((seconds, rss))

        def clear() -> None:  # moto keeps every object in memory: start each case empty
            for obj in admin.list_objects_v2(Bucket=BUCKET).get("Contents", []):
                admin.delete_object(Bucket=BUCKET, Key=obj["Key"])

        # Warm-up, not measured: moto's first big upload pays for growing its
        # heap, and the first run of each program fills the bytecode cache.
        warm_ups = [
            [py, "-c", BOTO3, endpoint, str(big), "warm-b", "default", "when_supported"],
            [py, "-c", RINDLE, endpoint, str(big), "warm-r", "parts"],
        ]
        for argv in [*(warm_ups if big_cases else []),
                     [py, "-c", BOTO3_TINY, front.url, str(tiny), "warm-t"],
                     [py, "-c", CLI, "upload", "--json", "--no-progress", str(tiny)],
                     api]:  # fmt: skip
            _measured(argv, env, work)
            clear()
        for n in range(args.rounds):
            key = f"r{n}"
            cases = [
                ("multipart boto3",
                 [py, "-c", BOTO3, endpoint, str(big), key + "b", "default", "when_supported"]),
                ("multipart boto3 no checksum",
                 [py, "-c", BOTO3, endpoint, str(big), key + "n", "default", "when_required"]),
                ("multipart rindle", [py, "-c", RINDLE, endpoint, str(big), key + "r", "parts"]),
                ("put boto3",
                 [py, "-c", BOTO3, endpoint, str(put), key + "pb", str(2**40), "when_supported"]),
                ("put rindle", [py, "-c", RINDLE, endpoint, str(put), key + "pr", "put"]),
            ]  # fmt: skip
            if n % 2:
                cases.reverse()
            for name, argv in cases if big_cases else []:
                _, rss, out = _measured(argv, env, work)
                record(name, json.loads(out.strip().splitlines()[-1])["seconds"], rss)
                clear()
            tiny_cases = [
                ("1 KiB boto3 (process)", [py, "-c", BOTO3_TINY, front.url, str(tiny), key + "t"]),
                ("1 KiB rindle upload (process)",
                 [py, "-c", CLI, "upload", "--json", "--no-progress", str(tiny)]),
                ("1 KiB rindle upload --api (process)", api),
                ("rindle --version (process)", [py, "-c", CLI, "--version"]),
            ]  # fmt: skip
            if n % 2:
                tiny_cases[:2] = tiny_cases[1::-1]
            for name, argv in tiny_cases:
                arrivals.clear()
                launched = time.time()
                wall, rss, _ = _measured(argv, env, work)
                record(name, wall, rss)
                if arrivals:  # the upload's PUT: process start to its arrival
                    record(name + " start", arrivals[0] - launched, rss)
            clear()
    finally:
        stack.close()
        shutil.rmtree(work, ignore_errors=True)
        front.close()
        server.stop()

    medians = {
        name: (statistics.median(s for s, _ in v), statistics.median(r for _, r in v))
        for name, v in rows.items()
    }
    print(f"# upload client vs s3transfer ({args.rounds} interleaved rounds, medians)")
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
          "server: moto ThreadedMotoServer on 127.0.0.1 (its speed bounds both)")  # fmt: skip
    print()
    print("| case | boto3 s | rindle s | speed (boto3 / rindle) | boto3 RSS MiB | rindle RSS MiB |")
    print("|---|---|---|---|---|---|")
    rows_shown = [
        (f"{args.big_mib:g} MiB multipart", "multipart rindle", "multipart boto3"),
        (
            f"{args.big_mib:g} MiB multipart, boto3 without checksums",
            "multipart rindle",
            "multipart boto3 no checksum",
        ),
        (f"{args.put_mib:g} MiB single PUT", "put rindle", "put boto3"),
    ]
    tiny_rindle, tiny_boto3 = "1 KiB rindle upload (process)", "1 KiB boto3 (process)"
    tiny_api = "1 KiB rindle upload --api (process)"
    rows_shown = [
        *(rows_shown if big_cases else []),
        ("1 KiB, process start to PUT at server", tiny_rindle + " start", tiny_boto3 + " start"),
        ("1 KiB, whole process", tiny_rindle, tiny_boto3),
        ("1 KiB --api, process start to PUT at server", tiny_api + " start", tiny_boto3 + " start"),
        ("1 KiB --api, whole process", tiny_api, tiny_boto3),
    ]
    for label, ours, theirs in rows_shown:
        (rs, rr), (bs, br) = medians[ours], medians[theirs]
        print(f"| {label} | {bs:.3f} | {rs:.3f} | {bs / rs:.2f}x | {br:.0f} | {rr:.0f} |")
    vs, vr = medians["rindle --version (process)"]
    print()
    print(f"`rindle --version`: {vs:.3f} s median, {vr:.0f} MiB RSS")


if __name__ == "__main__":
    main()
