"""GCS V4 signing: rindle_gcs's signer against google-cloud-storage's own.

    python benchmarks/bench_gcs_sign.py [--urls 2000] [--repeat 5]

Prints microseconds per signed PUT URL (best of ``--repeat`` runs) for:

* ``sdk``: ``Blob.generate_signed_url(version="v4", method="PUT")``, a new
  ``Blob`` per URL, as application code typically calls it;
* ``rindle``: ``GCSStorage.presign_put`` (canonical request built directly,
  same RSA key);
* ``rsa``: the bare RSA-2048 PKCS#1 v1.5 signature, the floor of both.

A throwaway RSA key is generated; nothing touches the network. The URLs of
both signers are checked to be identical first, so the comparison is of
equal work. Results are noisy on shared machines: compare ratios, not
absolute numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs
from google.cloud.storage import _signing as sdk_signing
from google.oauth2 import service_account

from rindle_gcs import GCSStorage, KeySigner, V4Signer
from rindle_gcs._resumable import ResumableProtocol

ENDPOINT = "https://storage.googleapis.com"
BUCKET = "rindle-bench"
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def _key_file(directory: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    path = directory / "sa.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "bench",
                "private_key_id": uuid.uuid4().hex,
                "private_key": pem,
                "client_email": "bench@bench.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path


class _NoHTTP:
    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        raise AssertionError("the benchmark sends no request")


def _best(fn: Callable[[int], None], urls: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(urls)
        times.append(time.perf_counter() - start)
    return min(times) / urls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        credentials: Any = service_account.Credentials.from_service_account_file(
            str(_key_file(Path(tmp)))
        )
    client = gcs.Client(project="bench", credentials=AnonymousCredentials())
    bucket = client.bucket(BUCKET)
    storage = GCSStorage(
        bucket=bucket,
        resumable=ResumableProtocol(
            endpoint=ENDPOINT,
            bucket=BUCKET,
            authorized=_NoHTTP(),
            anonymous=_NoHTTP(),
            timeout=1,
        ),
        signer=V4Signer(KeySigner(credentials), endpoint=ENDPOINT),
        clock=lambda: NOW,
    )
    sdk_signing._NOW = lambda tz=None: NOW.astimezone(tz)  # same clock for the identity check

    def sdk(n: int) -> None:
        for i in range(n):
            bucket.blob(f"uploads/{i}.pdf").generate_signed_url(
                version="v4",
                expiration=dt.timedelta(seconds=900),
                method="PUT",
                content_type="application/pdf",
                headers={"Content-Length": "1048576", "x-goog-if-generation-match": "0"},
                credentials=credentials,
                api_access_endpoint=ENDPOINT,
            )

    def ours(n: int) -> None:
        for i in range(n):
            storage.presign_put(
                f"uploads/{i}.pdf",
                content_type="application/pdf",
                content_length=1048576,
                expires_in=900,
            )

    def bare_rsa(n: int) -> None:
        for i in range(n):
            credentials.sign_bytes(b"GOOG4-RSA-SHA256\n%d" % i)

    expected = bucket.blob("uploads/0.pdf").generate_signed_url(
        version="v4",
        expiration=dt.timedelta(seconds=900),
        method="PUT",
        content_type="application/pdf",
        headers={"Content-Length": "1048576", "x-goog-if-generation-match": "0"},
        credentials=credentials,
        api_access_endpoint=ENDPOINT,
    )
    got = storage.presign_put(
        "uploads/0.pdf", content_type="application/pdf", content_length=1048576, expires_in=900
    ).url
    if got != expected:
        raise SystemExit("rindle's URL differs from the SDK's: the comparison would be unfair")

    results = {
        "sdk": _best(sdk, args.urls, args.repeat),
        "rindle": _best(ours, args.urls, args.repeat),
        "rsa": _best(bare_rsa, args.urls, args.repeat),
    }
    print(f"GCS V4 signed PUT, RSA-2048, {args.urls} URLs, best of {args.repeat}:")
    for name, micros in results.items():
        print(f"  {name:<7} {micros:8.1f} µs/URL")
    print(f"  rindle is {results['sdk'] / results['rindle']:.2f}x the SDK's throughput;")
    print(f"  RSA alone is {results['rsa'] / results['rindle']:.0%} of rindle's time per URL")


if __name__ == "__main__":
    main()
