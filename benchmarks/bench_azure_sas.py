"""SAS signing speed: rindle-azure's stdlib signer vs azure-storage-blob's generate_blob_sas.

Run: ``python benchmarks/bench_azure_sas.py [--number 5000] [--repeat 5]``

Both sides sign the same blob-scoped service SAS with the same (fake) account
key, entirely locally. First it checks that both produce identical tokens,
then it reports the median over ``repeat`` interleaved rounds of the time
per token, the ratio, and the
time rindle takes to sign a whole Put Block URL (what each part of a block
upload costs). Nothing here is asserted in the test suite: timings are noisy.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import platform
import statistics
import timeit
from importlib.metadata import version

from azure.storage.blob import BlobServiceClient, generate_blob_sas

from rindle_azure import AzureBlobStorage, SharedKeySigner

ACCOUNT = "rindlebench"
KEY = base64.b64encode(b"rindle benchmark key, not a secret" * 2).decode()
CONTAINER = "uploads"
BLOB = "profile/2026/11/6f1c8f0e5b1d4a3c9e7f/report final (v2).pdf"
EXPIRY = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def sdk_version_of_sv() -> str:
    token = generate_blob_sas(ACCOUNT, CONTAINER, BLOB, account_key=KEY, permission="r",
                              expiry=EXPIRY)  # fmt: skip
    return dict(p.split("=", 1) for p in token.split("&"))["sv"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=5000, help="tokens per timing run")
    parser.add_argument("--repeat", type=int, default=7, help="rounds (the median is kept)")
    args, _ = parser.parse_known_args()

    signer = SharedKeySigner(ACCOUNT, KEY, protocol="https", version=sdk_version_of_sv())

    def ours() -> str:
        return signer.blob_sas(CONTAINER, BLOB, permission="c", expiry=EXPIRY)

    def theirs() -> str:
        token: str = generate_blob_sas(
            ACCOUNT, CONTAINER, BLOB, account_key=KEY, permission="c", expiry=EXPIRY,
            protocol="https",
        )  # fmt: skip
        return token

    if ours() != theirs():
        raise SystemExit("the two signers disagree: not benchmarking")

    service = BlobServiceClient(f"https://{ACCOUNT}.blob.core.windows.net", credential=KEY)
    storage = AzureBlobStorage(
        service.get_container_client(CONTAINER), SharedKeySigner(ACCOUNT, KEY, protocol="https")
    )
    upload_id = storage.create_multipart(BLOB, content_type="application/pdf").upload_id

    def part_url() -> object:
        return storage.presign_part(BLOB, upload_id, 1234, expires_in=3600)

    number, repeat = int(args.number), int(args.repeat)

    rounds: dict[str, list[float]] = {"ours": [], "theirs": [], "part": []}
    for _ in range(repeat):  # interleaved: a burst of load hits every side alike
        for name, fn in (("theirs", theirs), ("ours", ours), ("part", part_url)):
            rounds[name].append(timeit.timeit(fn, number=number) / number * 1e6)
    t_ours, t_theirs, t_part = (statistics.median(rounds[n]) for n in ("ours", "theirs", "part"))
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"azure-storage-blob {version('azure-storage-blob')}")  # fmt: skip
    print(f"identical tokens: yes ({number} x {repeat} interleaved rounds, medians)")
    print(f"generate_blob_sas          {t_theirs:8.2f} us/token")
    print(f"rindle SharedKeySigner     {t_ours:8.2f} us/token   ({t_theirs / t_ours:.1f}x faster)")
    print(f"rindle presign_part (URL)  {t_part:8.2f} us/URL")


if __name__ == "__main__":
    main()
