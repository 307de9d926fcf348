"""``GET /profiles/{profile}``: what a client may upload in a profile, and how.

A browser sets Uppy's restrictions from it; ``rindle upload --api`` learns
whether the storage binds part checksums and the resumable chunk size.
"""

from __future__ import annotations

from fakes import ALL, MemoryStorage
from rindle_core import Capability
from web_support import AuthorizeLog, Mounted


def test_a_profile_says_its_limits_and_strategies(client: Mounted, memory: MemoryStorage) -> None:
    answer = client.get("/profiles/images")
    assert answer.status == 200, answer.text
    limits = memory.part_limits
    assert answer.json() == {
        "name": "images",
        "strategies": ["presigned_put", "presigned_post", "multipart", "resumable"],
        "max_bytes": 1_000_000,
        "min_bytes": 0,
        "allow_mime": ["image/jpeg", "image/png"],
        "allow_extensions": [],
        "part_size": 8 * 1024 * 1024,
        "multipart": {
            "part_size": min(max(8 * 1024 * 1024, limits.min_part_size), limits.max_part_size),
            "min_part_size": limits.min_part_size,
            "max_part_size": limits.max_part_size,
            "max_parts": limits.max_parts,
            "checksum_algorithms": sorted(limits.checksum_algorithms),
        },
    }


def test_a_storage_without_multipart_has_no_part_rules(
    client: Mounted, memory: MemoryStorage
) -> None:
    memory.capabilities = ALL - {Capability.MULTIPART_UPLOAD, Capability.RESUMABLE_UPLOAD}
    answer = client.get("/profiles/any").json()
    assert answer["multipart"] is None
    assert answer["strategies"] == ["presigned_put", "presigned_post"]
    assert answer["max_bytes"] is None


def test_the_hook_is_asked_as_for_an_initiate(client: Mounted, authorize_log: AuthorizeLog) -> None:
    assert client.get("/profiles/any", user=None).status == 403  # the hook refuses
    assert authorize_log == [("initiate", "any", None)]


def test_an_unknown_profile_is_not_found_before_the_hook(
    client: Mounted, authorize_log: AuthorizeLog
) -> None:
    answer = client.get("/profiles/nope")
    assert answer.status == 404 and answer.json()["type"].endswith("#unknown-profile")
    assert authorize_log == []
