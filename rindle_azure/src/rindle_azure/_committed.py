"""Decode a blob's committed block list back into the parts rindle committed.

Verification compares this list with the part ledger: the broker commits
exactly one upload's blocks, in ascending part order, so anything else (a
block id rindle never makes, blocks of two uploads, a repeated or reordered
block, a blob written by a single Put Blob) is a blob the broker did not
commit and raises :class:`~rindle_core.StorageConflict`. See
``docs/adr/0033-azure-committed-block-list.md``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from rindle_core import StorageConflict
from rindle_core.storage import UploadedPart

from ._blocks import decode_block

__all__ = ["decode_committed", "is_commit_of"]


def decode_committed(
    blocks: Sequence[tuple[str, int]],
    key: str,
    blob_size: int,
    *,
    upload_id: str | None = None,
) -> list[UploadedPart]:
    """The parts a committed block list stands for, in commit order.

    *blocks* are ``(decoded block id, size)`` pairs as Get Block List returns
    them. With *upload_id*, every block must belong to that upload; without
    it, all blocks must belong to one rindle upload of *key*. An empty blob
    with no blocks gives ``[]``.
    """
    if not blocks:
        if blob_size:
            raise StorageConflict("the blob was not committed from blocks (a whole-blob write)")
        return []
    parts: list[UploadedPart] = []
    uploads: set[str] = set()
    foreign = 0
    for name, size in blocks:
        decoded = decode_block(name, key)
        if decoded is None:
            foreign += 1
            continue
        uploads.add(decoded[0])
        parts.append(UploadedPart(decoded[1], None, size))
    if foreign:
        raise StorageConflict(f"the committed block list holds {foreign} foreign block(s)")
    if len(uploads) > 1 or (upload_id is not None and uploads != {upload_id}):
        raise StorageConflict("the committed blocks are not those of this upload")
    numbers = [p.part_number for p in parts]
    if any(a >= b for a, b in itertools.pairwise(numbers)):
        raise StorageConflict("the committed blocks are repeated or out of part order")
    if sum(p.size or 0 for p in parts) != blob_size:
        raise StorageConflict("the committed blocks do not add up to the blob's size")
    return parts


def is_commit_of(committed: Sequence[UploadedPart], parts: Sequence[UploadedPart]) -> bool:
    """Whether *committed* (from :func:`decode_committed`) is exactly *parts*.

    The same part numbers, and the same sizes where *parts* state them.
    """
    sizes = {p.part_number: p.size for p in parts}
    return [p.part_number for p in committed] == sorted(sizes) and all(
        sizes[p.part_number] in (None, p.size) for p in committed
    )
