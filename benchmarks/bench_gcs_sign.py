"""GCS V4 signing: google-cloud-storage's signer vs rindle_gcs's, RSA and HMAC.

    python benchmarks/bench_gcs_sign.py [--urls 500] [--rounds 7]

Prints microseconds per signed PUT URL (the median of ``--rounds`` rounds,
the three signers interleaved within each round, so machine noise hits all
alike) and the ratios against the SDK:

* ``sdk``: ``Blob.generate_signed_url(version="v4", method="PUT")``, a new
  ``Blob`` per URL, as application code typically calls it (RSA-2048: the
  SDK cannot sign with an HMAC key);
* ``rindle rsa``: ``GCSStorage.presign_put`` with the same service-account
  key (``GOOG4-RSA-SHA256``);
* ``rindle hmac``: ``GCSStorage.presign_put`` with an HMAC key
  (``GOOG4-HMAC-SHA256``; ``hmac_access_id`` / ``hmac_secret``);
* ``bare rsa``: the RSA-2048 PKCS#1 v1.5 signature alone, the floor of the
  two RSA signers.

Before timing, rindle's RSA URL is checked to be the SDK's byte for byte,
and rindle's HMAC canonical request to be the SDK's but for the algorithm
and the credential, so the work compared is equal. A throwaway RSA key and
HMAC secret are generated; nothing touches the network.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs
from google.cloud.storage import _signing as sdk_signing
from google.oauth2 import service_account

from rindle_gcs import GCSStorage, HMACSigner, KeySigner, V4Signer
from rindle_gcs._resumable import ResumableProtocol

ENDPOINT = "https://storage.googleapis.com"
BUCKET = "rindle-bench"
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
EMAIL = "bench@bench.iam.gserviceaccount.com"
ACCESS_ID = "GOOG1EBENCHMARKACCESSID"
HEADERS = {"Content-Length": "1048576", "x-goog-if-generation-match": "0"}


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
                "client_email": EMAIL,
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path


class _NoHTTP:
    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        raise AssertionError("the benchmark sends no request")


def _storage(bucket: Any, signer: KeySigner | HMACSigner) -> GCSStorage:
    return GCSStorage(
        bucket=bucket,
        resumable=ResumableProtocol(
            endpoint=ENDPOINT, bucket=BUCKET, authorized=_NoHTTP(), anonymous=_NoHTTP(), timeout=1
        ),
        signer=V4Signer(signer, endpoint=ENDPOINT),
        clock=lambda: NOW,
    )


def _interleaved(
    cases: dict[str, Callable[[int], None]], urls: int, rounds: int
) -> dict[str, float]:
    """Median µs per URL of each case; every round runs each case once, in turn."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():
        fn(max(1, urls // 10))  # warm up: imports, caches, the day's HMAC key
    for _ in range(rounds):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn(urls)
            samples[name].append((time.perf_counter() - start) / urls * 1e6)
    return {name: statistics.median(times) for name, times in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=500, help="URLs per case per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (the median is kept)")
    args, _ = parser.parse_known_args()

    with tempfile.TemporaryDirectory() as tmp:
        credentials: Any = service_account.Credentials.from_service_account_file(
            str(_key_file(Path(tmp)))
        )
    client = gcs.Client(project="bench", credentials=AnonymousCredentials())
    bucket = client.bucket(BUCKET)
    rsa_storage = _storage(bucket, KeySigner(credentials))
    hmac_storage = _storage(bucket, HMACSigner(ACCESS_ID, secrets.token_urlsafe(30)))
    sdk_signing._NOW = lambda tz=None: NOW.astimezone(tz)  # same clock for the identity check

    def sdk_url(key: str) -> str:
        return str(
            bucket.blob(key).generate_signed_url(
                version="v4",
                expiration=dt.timedelta(seconds=900),
                method="PUT",
                content_type="application/pdf",
                headers=dict(HEADERS),
                credentials=credentials,
                api_access_endpoint=ENDPOINT,
            )
        )

    def put(storage: GCSStorage, key: str) -> str:
        return storage.presign_put(
            key, content_type="application/pdf", content_length=1048576, expires_in=900
        ).url

    if put(rsa_storage, "uploads/0.pdf") != sdk_url("uploads/0.pdf"):
        raise SystemExit("rindle's RSA URL differs from the SDK's: the comparison would be unfair")
    signed = {**HEADERS, "Content-Type": "application/pdf"}
    rsa_request = V4Signer(KeySigner(credentials), endpoint=ENDPOINT).canonical(
        "PUT", BUCKET, "uploads/0.pdf", expires_in=900, headers=signed, now=NOW
    )
    hmac_request = V4Signer(HMACSigner(ACCESS_ID, "x"), endpoint=ENDPOINT).canonical(
        "PUT", BUCKET, "uploads/0.pdf", expires_in=900, headers=signed, now=NOW
    )
    swapped = rsa_request.canonical_request.replace("GOOG4-RSA-SHA256", "GOOG4-HMAC-SHA256")
    if hmac_request.canonical_request != swapped.replace(quote(EMAIL, safe=""), ACCESS_ID):
        raise SystemExit("rindle's HMAC request is not the SDK's: the comparison would be unfair")

    def sdk(n: int) -> None:
        for i in range(n):
            sdk_url(f"uploads/{i}.pdf")

    def rindle_rsa(n: int) -> None:
        for i in range(n):
            put(rsa_storage, f"uploads/{i}.pdf")

    def rindle_hmac(n: int) -> None:
        for i in range(n):
            put(hmac_storage, f"uploads/{i}.pdf")

    def bare_rsa(n: int) -> None:
        for i in range(n):
            credentials.sign_bytes(b"GOOG4-RSA-SHA256\n%d" % i)

    results = _interleaved(
        {"sdk": sdk, "rindle rsa": rindle_rsa, "rindle hmac": rindle_hmac, "bare rsa": bare_rsa},
        args.urls,
        args.rounds,
    )
    print(
        f"GCS V4 signed PUT: python {platform.python_version()} on {platform.machine()}, "
        f"google-cloud-storage {version('google-cloud-storage')}; "
        f"median of {args.rounds} interleaved rounds x {args.urls} URLs"
    )
    print(f"  {'signer':<12} {'µs/URL':>9} {'vs sdk':>8}")
    for name, micros in results.items():
        print(f"  {name:<12} {micros:9.1f} {results['sdk'] / micros:7.1f}x")
    hmac_ratio = results["sdk"] / results["rindle hmac"]
    print(
        f"  rindle hmac signs {hmac_ratio:.0f}x as many URLs per second as the SDK's RSA "
        f"({'meets' if hmac_ratio >= 10 else 'MISSES'} the 10x goal); RSA alone is "
        f"{results['bare rsa'] / results['rindle rsa']:.0%} of rindle's RSA time per URL"
    )


if __name__ == "__main__":
    main()
