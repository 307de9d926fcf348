"""Promotion: ``validating → analyzing → promoting → available`` (or quarantined).

Reads only the object's first bytes (a ranged read), detects the type with
puremagic, enforces the profile, and runs the ``rindle_inspect_upload``
hooks. Storage I/O happens between two short transactions, never inside
one. A transient storage error propagates so the job is retried; a missing
object or a policy violation quarantines the asset with a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

import pluggy
import puremagic

from ._decisions import extension_contradicts, extension_of, mime_allowed, same_type_family
from ._errors import AssetNotFound, StorageNotFound
from ._telemetry import Event, Telemetry, asset_event
from .db import Database
from .db._repo import cas_asset, load_asset
from .models import Asset, Job
from .profiles import Profile
from .states import AssetState
from .storage import Capability, HeadResult, StorageAdapter, utcnow

__all__ = ["SNIFF_BYTES", "Promoter", "detect_type", "policy_violation"]

#: How many leading bytes promotion reads to detect the type.
SNIFF_BYTES: Final = 8192

#: Declared types whose content always carries a recognisable signature.
_MAGIC_FAMILIES: Final = ("image/", "video/", "audio/")
_MAGIC_TYPES: Final = frozenset(
    {"application/pdf", "application/zip", "application/gzip", "application/x-tar"}
)


def detect_type(sample: bytes) -> str | None:
    """The MIME type the bytes' signature shows, or None when unknown."""
    if not sample:
        return None
    try:
        guesses = puremagic.magic_string(sample)
    except puremagic.PureError:
        return None
    for guess in sorted(guesses, key=lambda g: -g.confidence):
        if guess.mime_type:
            return str(guess.mime_type).lower()
    return None


def policy_violation(
    profile: Profile,
    *,
    filename: str,
    declared: str | None,
    detected: str | None,
    head: HeadResult,
    declared_size: int | None,
) -> str | None:
    """A quarantine reason, or None when the stored object satisfies *profile*."""
    if profile.max_bytes is not None and head.size > profile.max_bytes:
        return f"max_bytes_exceeded: {head.size} > {profile.max_bytes}"
    if head.size < profile.min_bytes:
        return f"min_bytes_not_met: {head.size} < {profile.min_bytes}"
    if declared_size is not None and head.size != declared_size:
        return f"size_mismatch: declared {declared_size}, stored {head.size}"
    if declared == "application/octet-stream":
        declared = None  # "unknown": nothing to contradict
    if declared and profile.require_type_match:
        if detected is None and (declared.startswith(_MAGIC_FAMILIES) or declared in _MAGIC_TYPES):
            return f"type_mismatch: content is not {declared}"
        if detected is not None and not same_type_family(declared, detected):
            return f"type_mismatch: declared {declared}, detected {detected}"
    effective = detected or declared or "application/octet-stream"
    if profile.allow_mime and not mime_allowed(effective, profile.allow_mime):
        return f"mime_not_allowed: {effective}"
    ext = extension_of(filename)
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
            sample = b""
            if Capability.RANGE_READ in storage.capabilities and head.size:
                sample = storage.read_range(asset.storage_key, 0, min(SNIFF_BYTES, head.size))
        except StorageNotFound:
            return self._quarantine(asset, "object_missing", None, None)
        # StorageUnavailable and other storage errors propagate: the job retries.
        detected = detect_type(sample)
        reason = policy_violation(
            profile,
            filename=asset.filename,
            declared=asset.declared_content_type,
            detected=detected,
            head=head,
            declared_size=_declared_size(asset),
        )
        if reason is None:
            for hook_reason in self._pm.hook.rindle_inspect_upload(
                asset=asset, head=head, sample=sample
            ):
                if hook_reason:
                    reason = str(hook_reason)
                    break
        content_type = detected or asset.declared_content_type or head.content_type
        if reason is not None:
            return self._quarantine(asset, reason, content_type, head.size)
        return self._promote(asset, content_type, head.size)

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


def _declared_size(asset: Asset) -> int | None:
    value = asset.metadata.get("declared_size")
    return value if isinstance(value, int) else None
