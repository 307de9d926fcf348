"""Presigning speed: rindle-s3's SigV4 presigner vs boto3's generate_presigned_url.

Run: ``python benchmarks/bench_s3_presign.py [--number 2000] [--repeat 7]``

Both sides sign the same requests with the same (fake, static) credentials,
entirely locally. First it checks that both produce identical URLs for a
frozen clock, then it reports the median time per URL over ``repeat``
rounds, boto3 and rindle interleaved within each round (so machine noise
hits both alike), and the ratio. Nothing here is asserted in the test
suite: timings are noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import timeit
from collections.abc import Callable
from typing import Any
from unittest import mock

import boto3
import botocore
from botocore.config import Config

from rindle_s3 import S3Storage

BUCKET = "uploads-bench"
REGION = "eu-west-1"
CREDS = {
    "aws_access_key_id": "AKIDBENCHMARK0000000",
    "aws_secret_access_key": "benchmark/secret+key/0000000000000000000",
}
KEY = "profile/2026/11/6f1c8f0e5b1d4a3c9e7f/report final (v2).pdf"
UPLOAD_ID = "2~Zm9vYmFyYmF6cXV4LXVwbG9hZC1pZC0wMTIzNDU2Nzg5"


def boto_client() -> Any:
    return boto3.Session(region_name=REGION, **CREDS).client(
        "s3", config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"})
    )


def check_identical(client: Any, storage: S3Storage) -> None:
    fixed = dt.datetime(2026, 11, 25, 12, 0, 0, tzinfo=dt.UTC)
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=fixed.replace(tzinfo=None)),
        mock.patch("rindle_s3._adapter.utcnow", return_value=fixed),
    ):
        ours = storage.presign_put(
            KEY, content_type="application/pdf", content_length=123_456, expires_in=3600
        ).url
        theirs = client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": BUCKET,
                "Key": KEY,
                "ContentType": "application/pdf",
                "ContentLength": 123_456,
                "IfNoneMatch": "*",
            },
            ExpiresIn=3600,
        )
        ours_part = storage.presign_part(KEY, UPLOAD_ID, 42, expires_in=3600).url
        theirs_part = client.generate_presigned_url(
            "upload_part",
            Params={"Bucket": BUCKET, "Key": KEY, "UploadId": UPLOAD_ID, "PartNumber": 42},
            ExpiresIn=3600,
        )
    if ours != theirs or ours_part != theirs_part:
        raise SystemExit("the URLs differ from botocore's: the benchmark would be meaningless")


def per_url(
    theirs: Callable[[], object], ours: Callable[[], object], number: int, rounds: int
) -> tuple[float, float]:
    """Median µs per call of each side, the two interleaved round by round."""
    theirs()
    ours()  # warm caches (signing key, host)
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for times, fn in zip(samples, (theirs, ours), strict=True):
            times.append(timeit.timeit(fn, number=number) / number * 1e6)
    return statistics.median(samples[0]), statistics.median(samples[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000, help="URLs per timing run")
    parser.add_argument("--repeat", type=int, default=7, help="rounds (the median is kept)")
    args, _ = parser.parse_known_args()

    client = boto_client()
    storage = S3Storage(BUCKET, region=REGION, addressing_style="virtual", **CREDS)  # type: ignore[arg-type]
    check_identical(client, storage)

    put_params = {
        "Bucket": BUCKET,
        "Key": KEY,
        "ContentType": "application/pdf",
        "ContentLength": 123_456,
        "IfNoneMatch": "*",
    }
    part_params = {
        "Bucket": BUCKET,
        "Key": KEY,
        "UploadId": UPLOAD_ID,
        "PartNumber": 42,
        "ContentLength": 8 * 1024 * 1024,
    }
    cases = [
        (
            "presigned PUT (Content-Type + Content-Length + If-None-Match bound)",
            lambda: client.generate_presigned_url("put_object", Params=put_params, ExpiresIn=3600),
            lambda: storage.presign_put(
                KEY, content_type="application/pdf", content_length=123_456, expires_in=3600
            ),
        ),
        (
            "presigned UploadPart (Content-Length bound)",
            lambda: client.generate_presigned_url(
                "upload_part", Params=part_params, ExpiresIn=3600
            ),
            lambda: storage.presign_part(
                KEY, UPLOAD_ID, 42, expires_in=3600, content_length=8 * 1024 * 1024
            ),
        ),
        (
            "presigned GET",
            lambda: client.generate_presigned_url(
                "get_object", Params={"Bucket": BUCKET, "Key": KEY}, ExpiresIn=3600
            ),
            lambda: storage.presign_get(KEY, expires_in=3600),
        ),
    ]
    print(
        f"python {platform.python_version()} on {platform.machine()}, botocore "
        f"{botocore.__version__}; median of {args.repeat} interleaved rounds x {args.number} URLs"
    )
    print(f"{'request':52} {'boto3 µs':>10} {'rindle µs':>10} {'ratio':>7}")
    part_us = (0.0, 0.0)
    for name, theirs, ours in cases:
        boto_us, ours_us = per_url(theirs, ours, args.number, args.repeat)
        print(f"{name:52} {boto_us:10.1f} {ours_us:10.1f} {boto_us / ours_us:6.1f}x")
        if "UploadPart" in name:
            part_us = (boto_us, ours_us)
    parts = 10_000
    boto_s, ours_s = (micros * parts / 1e6 for micros in part_us)
    print(
        f"signing all {parts:,} parts of a 5 TiB-class upload: boto3 {boto_s:.2f} s, "
        f"rindle {ours_s:.3f} s"
    )


if __name__ == "__main__":
    main()
