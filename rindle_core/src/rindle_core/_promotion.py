"""Promotion: ``validating → analyzing → promoting → available`` (or quarantined).

Reads only the object's first bytes (a ranged read; a markup document
whole, up to a limit), detects the type with rindle's own signature table,
enforces the profile, and runs the ``rindle_inspect_upload`` hooks. Storage
I/O happens between two short transactions, never inside one. A transient
storage error propagates so the job is retried; a missing object or a
policy violation quarantines the asset with a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final

import pluggy
from sqlalchemy import select

from ._active_content import MARKUP_SCAN_BYTES, active_content, is_markup_document
from ._clock import utcnow
from ._decisions import (
    extension_contradicts,
    extension_of,
    mime_allowed,
    normalise_content_type,
    same_type_family,
)
from ._errors import AssetNotFound, InvalidArgument, StorageConflict, StorageNotFound
from ._mimetypes import relatives
from ._signatures import SIGNED_TYPES, sniff
from ._telemetry import Event, Telemetry, asset_event
from .db import Database, sessions_table
from .db._repo import cas_asset, load_asset, load_parts
from .models import Asset, Job
from .profiles import Profile
from .states import AssetState, SessionState
from .storage import HeadResult, StorageAdapter, UploadedPart, supports_committed_parts

__all__ = [
    "SNIFF_BYTES",
    "Promoter",
    "changed_since_verification",
    "detect_type",
    "policy_violation",
    "sniff_length",
    "verified_type",
]

#: How many leading bytes promotion reads to detect the type.
SNIFF_BYTES: Final = 8192

#: Declared media families a signature must confirm; a subtype rindle has no
#: signature for is "unverified" rather than accepted on the client's word.
_MEDIA_FAMILIES: Final = ("image/", "video/", "audio/", "font/")


def sniff_length(declared: str | None, size: int) -> int:
    """How many leading bytes promotion should read for an object of *size*.

    :data:`SNIFF_BYTES` for the type; a markup document (SVG, XML) is read
    whole up to :data:`~rindle_core._active_content.MARKUP_SCAN_BYTES`, so a
    script cannot hide past the first bytes (ADR 0071).
    """
    markup = declared is not None and is_markup_document(declared)
    return max(0, min(size, MARKUP_SCAN_BYTES if markup else SNIFF_BYTES))


def detect_type(sample: bytes) -> str | None:
    """The canonical type rindle's signature table finds in the first bytes, or None.

    Deterministic: no global table, no heuristics that read text as a
    binary format (ADR 0070).
    """
    return sniff(sample[:SNIFF_BYTES]) if sample else None


def verified_type(declared: str | None, detected: str | None) -> str | None:
    """The type an available object is recorded and served with.

    The declared type when detection agrees with it (it is the more specific
    name: ``audio/mp4`` for bytes that sniff as ``video/mp4``, ``.docx`` for
    bytes that sniff as ZIP), else what was detected, else what was declared.
    """
    if declared == "application/octet-stream":
        declared = None
    if declared and detected and same_type_family(declared, detected):
        return declared
    return detected or declared


def policy_violation(
    profile: Profile,
    *,
    filename: str,
    declared: str | None,
    detected: str | None,
    head: HeadResult,
    declared_size: int | None,
    sample: bytes = b"",
) -> str | None:
    """A quarantine reason, or None when the stored object satisfies *profile*.

    *sample* is the object's first bytes as read (see :func:`sniff_length`);
    without it a markup document counts as not inspected.
    """
    if profile.max_bytes is not None and head.size > profile.max_bytes:
        return f"max_bytes_exceeded: {head.size} > {profile.max_bytes}"
    if head.size < profile.min_bytes:
        return f"min_bytes_not_met: {head.size} < {profile.min_bytes}"
    if declared_size is not None and head.size != declared_size:
        return f"size_mismatch: declared {declared_size}, stored {head.size}"
    if declared == "application/octet-stream":
        declared = None  # "unknown": nothing to contradict
    ext = extension_of(filename)
    if not profile.allow_active_content:
        active = active_content(
            sample, declared=declared, detected=detected, size=head.size, extension=ext
        )
        if active:
            return f"active_content: {active}"
    if declared and profile.require_type_match:
        if detected is None and relatives(declared) & SIGNED_TYPES:
            return f"type_mismatch: content is not {declared}"
        if detected is None and declared.startswith(_MEDIA_FAMILIES):
            return f"type_unverified: rindle knows no signature for {declared}"
        if detected is not None and not same_type_family(declared, detected):
            return f"type_mismatch: declared {declared}, detected {detected}"
    effective = verified_type(declared, detected) or "application/octet-stream"
    if profile.allow_mime and not mime_allowed(effective, profile.allow_mime):
        return f"mime_not_allowed: {effective}"
    if detected and profile.require_type_match and extension_contradicts(ext, detected):
        return f"extension_mismatch: .{ext} holds {detected}"
    return None


class Promoter:
    """Runs the ``promote`` job for one asset; idempotent."""

    def __init__(
        self,
        database: Database,
        *,
        profiles: Mapping[str, Profile],
        storage_for: Callable[[str], StorageAdapter],
        pm: pluggy.PluginManager,
        telemetry: Telemetry,
    ) -> None:
        self._db = database
        self._profiles = profiles
        self._storage_for = storage_for
        self._pm = pm
        self._telemetry = telemetry

    def __call__(self, job: Job) -> None:
        self.promote(str(job.payload["asset_id"]))

    def promote(self, asset_id: str) -> Asset:
        """Promote the asset as far as it goes; return its final snapshot."""
        asset = self._load(asset_id)
        if asset.state is AssetState.VALIDATING:
            asset = self._move(asset, AssetState.ANALYZING)
        if asset.state is AssetState.ANALYZING:
            asset = self._analyze(asset)
        if asset.state is AssetState.PROMOTING:
            asset = self._move(asset, AssetState.AVAILABLE)
        return asset

    def _load(self, asset_id: str) -> Asset:
        with self._db.read() as conn:
            asset = load_asset(conn, asset_id)
        if asset is None:
            raise AssetNotFound(asset_id)
        return asset

    def _move(self, asset: Asset, target: AssetState, **values: object) -> Asset:
        now = utcnow()
        events: list[Event] = []
        with self._db.transaction() as conn:
            if cas_asset(conn, asset.id, asset.state, target, now, **values):
                moved = load_asset(conn, asset.id)
                assert moved is not None
                events.append(asset_event(moved, asset.state.value, target.value))
            else:
                moved = load_asset(conn, asset.id)
                assert moved is not None
        self._telemetry.emit(events)
        return moved

    def _analyze(self, asset: Asset) -> Asset:
        profile = self._profiles.get(asset.profile)
        if profile is None:
            return self._quarantine(asset, f"unknown_profile: {asset.profile}", None, None)
        storage = self._storage_for(asset.profile)
        try:
            head = storage.head(asset.storage_key)
            changed = changed_since_verification(asset, head)
            if changed is not None:
                return self._quarantine(asset, changed, None, head.size)
            sample = b""
            if head.size:
                sample = storage.read_range(
                    asset.storage_key,
                    0,
                    sniff_length(asset.declared_content_type, head.size),
                    version=asset.stored_version,
                )
            parts_reason = self._committed_parts_differ(asset, storage)
        except StorageNotFound:
            return self._quarantine(asset, "object_missing", None, None)
        except StorageConflict:
            return self._quarantine(
                asset, "object_changed: replaced while it was being promoted", None, None
            )
        # StorageUnavailable and other storage errors propagate: the job retries.
        if parts_reason is not None:
            return self._quarantine(asset, parts_reason, None, head.size)
        detected = detect_type(sample)
        reason = policy_violation(
            profile,
            filename=asset.filename,
            declared=asset.declared_content_type,
            detected=detected,
            head=head,
            declared_size=_declared_size(asset),
            sample=sample,
        )
        if reason is None:
            for hook_reason in self._pm.hook.rindle_inspect_upload(
                asset=asset, head=head, sample=sample
            ):
                if hook_reason:
                    reason = str(hook_reason)
                    break
        content_type = verified_type(asset.declared_content_type, detected) or head.content_type
        if reason is not None:
            return self._quarantine(asset, reason, content_type, head.size)
        return self._promote(asset, content_type, head.size)

    def _committed_parts_differ(self, asset: Asset, storage: StorageAdapter) -> str | None:
        """For backends that list committed parts: do they match the part ledger?

        The ledger holds the parts the broker completed; anything else (a block
        list a client committed itself) is not what was verified.
        """
        if not supports_committed_parts(storage):
            return None
        with self._db.read() as conn:
            row = conn.execute(
                select(sessions_table.c.id, sessions_table.c.multipart_upload_id).where(
                    sessions_table.c.asset_id == asset.id,
                    sessions_table.c.state == SessionState.COMPLETED.value,
                    sessions_table.c.upload_strategy == "multipart",
                )
            ).first()
            if row is None:
                return None
            ledger = load_parts(conn, row.id)
        committed = storage.committed_parts(asset.storage_key, upload_id=row.multipart_upload_id)
        expected = [(p.part_number, p.size) for p in ledger]
        actual = [(p.part_number, p.size) for p in committed]
        if actual != expected:
            return (
                f"parts_mismatch: storage holds parts {_numbers(committed)}, "
                f"the broker completed {_numbers(ledger)}"
            )
        return None

    def _quarantine(
        self, asset: Asset, reason: str, content_type: str | None, size: int | None
    ) -> Asset:
        values: dict[str, object] = {"quarantine_reason": reason[:1000]}
        if content_type:
            values["content_type"] = content_type
        if size is not None:
            values["byte_size"] = size
        return self._move(asset, AssetState.QUARANTINED, **values)

    def _promote(self, asset: Asset, content_type: str | None, size: int) -> Asset:
        now = utcnow()
        events: list[Event] = []
        with self._db.transaction() as conn:
            values = {"content_type": content_type, "byte_size": size}
            if cas_asset(conn, asset.id, AssetState.ANALYZING, AssetState.PROMOTING, now, **values):
                promoting = load_asset(conn, asset.id)
                assert promoting is not None
                events.append(asset_event(promoting, "analyzing", "promoting"))
                cas_asset(conn, asset.id, AssetState.PROMOTING, AssetState.AVAILABLE, now)
                available = load_asset(conn, asset.id)
                assert available is not None
                events.append(asset_event(available, "promoting", "available"))
            final = load_asset(conn, asset.id)
            assert final is not None
        self._telemetry.emit(events)
        return final


def changed_since_verification(asset: Asset, head: HeadResult) -> str | None:
    """A quarantine reason when *head* is not the object verification saw."""
    if asset.stored_version is not None and head.version != asset.stored_version:
        return "object_changed: the stored object is not the one verified"
    if asset.byte_size is not None and head.size != asset.byte_size:
        return f"object_changed: verified {asset.byte_size} bytes, storage holds {head.size}"
    declared = asset.declared_content_type
    if declared and head.content_type is not None:
        served = _mime(head.content_type) or "(malformed)"
        if served != _mime(declared):
            return f"served_type_mismatch: storage serves {served}, declared {declared}"
    return None


def _mime(value: str) -> str:
    try:
        return normalise_content_type(value)
    except InvalidArgument:
        return ""


def _numbers(parts: Sequence[UploadedPart]) -> str:
    shown = ", ".join(str(p.part_number) for p in parts[:20])
    return f"[{shown}{', …' if len(parts) > 20 else ''}]"


def _declared_size(asset: Asset) -> int | None:
    value = asset.metadata.get("declared_size")
    return value if isinstance(value, int) else None
