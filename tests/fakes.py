"""An in-memory storage adapter for unit tests, with fault injection.

Not a test of any backend: the backends have their own suites against real
servers. This one lets broker tests simulate clients (:meth:`client_put`,
:meth:`client_post`, :meth:`client_put_part`, :meth:`client_get`), an attacker who bypasses the
backend's rules (:meth:`replace_object`, :meth:`set_served_type`) and
storage failures (:attr:`faults`).

It honours the adapter seam the way a real backend does: signed uploads are
create-only (a second PUT to a key is refused with 412, a completion onto an
existing object raises :class:`StorageConflict`), every write gets a new
:attr:`HeadResult.version`, reads bound to a version refuse another one, and
a signed GET is bound to the version and response headers it was asked for.

:func:`broker_factory` builds brokers on this storage for the broker suites;
each suite's ``make_broker`` fixture passes it conftest's parametrised
``any_db``, so every broker test runs on SQLite and on PostgreSQL (CI sets
``RINDLE_REQUIRE_POSTGRES=1``, so a missing server fails instead of skipping).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import secrets
import threading
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import pluggy

from rindle_core import (
    Broker,
    Capability,
    Database,
    HeadResult,
    InvalidParts,
    MultipartUpload,
    PartLimits,
    PresignedPost,
    PresignedRequest,
    Profile,
    ResumableStatus,
    ResumableUpload,
    StorageConflict,
    StorageNotFound,
    UploadedPart,
    UploadUnsupported,
)
from rindle_core.adapters import utcnow

__all__ = [
    "ALL",
    "PNG",
    "WITH_COMMITTED_PARTS",
    "ClientRefused",
    "GetGrant",
    "MemoryStorage",
    "PostGrant",
    "broker_factory",
    "etag_of",
]

#: The default capabilities: everything an S3-like backend offers.
ALL = frozenset(Capability) - {Capability.COMMITTED_PARTS}
#: An Azure-like backend that can list the parts an object was assembled from.
WITH_COMMITTED_PARTS = frozenset(Capability)

#: The first bytes of a real PNG (enough for type detection).
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(100)


def etag_of(data: bytes) -> str:
    """The quoted ETag the fake gives a part or an object."""
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


class ClientRefused(Exception):
    """What a client sees when the backend refuses its request (like an HTTP 4xx)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code


@attrs.frozen
class PostGrant:
    """What one :meth:`MemoryStorage.presign_post` call bound."""

    key: str
    content_type: str
    min_size: int
    max_size: int
    expires_at: dt.datetime
    create_only: bool


@attrs.frozen
class GetGrant:
    """What one :meth:`MemoryStorage.presign_get` call was asked for."""

    key: str
    expires_in: int
    version: str | None
    content_type: str | None
    content_disposition: str | None


class MemoryStorage:
    """A plain implementation of every adapter protocol; it offers *capabilities*.

    What the broker may use is :func:`~rindle_core.storage.capabilities_of`:
    the declared *capabilities*, all of them implemented here.
    """

    backend = "memory"
    #: The largest body :meth:`presign_post` binds.
    max_post_size = 1 << 40

    def __init__(
        self, capabilities: frozenset[Capability] = ALL, *, post_create_only: bool = False
    ) -> None:
        self.capabilities = capabilities
        #: Whether POSTs refuse an existing key (local) or replace it (S3, GCS).
        self.post_create_only = post_create_only
        #: every POST policy signed, in order
        self.posts: list[PostGrant] = []
        self._post_grants: dict[str, PostGrant] = {}
        self.closed = 0
        #: key -> (bytes, served content type)
        self.objects: dict[str, tuple[bytes, str]] = {}
        #: key -> the current version (changes on every write)
        self.versions: dict[str, str] = {}
        #: key -> how many times an object was written there (create-only: at most once
        #: per lifetime, unless an attacker's :meth:`replace_object` bypassed it)
        self.writes: dict[str, int] = {}
        #: key -> the parts the object was assembled from ([] for a single PUT)
        self.assembled: dict[str, list[UploadedPart]] = {}
        self.uploads: dict[str, dict[int, bytes]] = {}
        self.resumable: dict[str, bytearray] = {}
        #: every signed GET, in order
        self.gets: list[GetGrant] = []
        self._grants: dict[str, GetGrant] = {}
        self.calls: list[str] = []
        #: method name -> exception raised (once) by the next call to it
        self.faults: dict[str, Exception] = {}
        self._lock = threading.RLock()
        self._counter = itertools.count(1)

    def _enter(self, name: str) -> None:
        with self._lock:
            self.calls.append(name)
            fault = self.faults.pop(name, None)
        if fault is not None:
            raise fault

    def _write(self, key: str, data: bytes, content_type: str, parts: list[UploadedPart]) -> None:
        with self._lock:
            self.objects[key] = (data, content_type)
            self.versions[key] = f"v{next(self._counter)}"
            self.assembled[key] = parts
            self.writes[key] = self.writes.get(key, 0) + 1

    # -- simulated clients --------------------------------------------------------

    def client_put(self, key: str, data: bytes, content_type: str) -> None:
        """A client's signed PUT: create-only, so an existing key answers 412."""
        if key in self.objects:
            raise ClientRefused(412, "PreconditionFailed")
        self._write(key, data, content_type, [])

    def client_post(
        self, post: PresignedPost, data: bytes, content_type: str | None = None
    ) -> None:
        """A client's form POST, judged by its policy as S3 judges one.

        The key, content type, size range and expiry are the policy's
        (403/400 otherwise); an existing key is replaced, as S3 and GCS do,
        unless the policy is create-only (412).
        """
        grant = self._post_grants.get(post.fields.get("policy", ""))
        if grant is None or utcnow() >= grant.expires_at:
            raise ClientRefused(403, "AccessDenied")
        if post.fields.get("key") != grant.key:
            raise ClientRefused(403, "AccessDenied")
        if (content_type or post.fields.get("Content-Type")) != grant.content_type:
            raise ClientRefused(403, "AccessDenied")
        if len(data) > grant.max_size:
            raise ClientRefused(400, "EntityTooLarge")
        if len(data) < grant.min_size:
            raise ClientRefused(400, "EntityTooSmall")
        with self._lock:
            if grant.create_only and grant.key in self.objects:
                raise ClientRefused(412, "PreconditionFailed")
            self._write(grant.key, data, grant.content_type, [])

    def client_put_part(self, upload_id: str, number: int, data: bytes) -> str:
        """A client's part upload; returns the part's ETag (404 once the upload is gone)."""
        held = self.uploads.get(upload_id)
        if held is None:
            raise ClientRefused(404, "NoSuchUpload")
        held[number] = data
        return etag_of(data)

    def client_get(self, request: PresignedRequest) -> tuple[bytes, dict[str, str]]:
        """Follow a signed GET: the bytes and response headers it was signed for.

        A URL bound to a version refuses another one (412), as GCS's
        ``generation=`` or S3's ``versionId`` would.
        """
        token = request.url.removeprefix("memory://get/").split("?")[0]
        grant = self._grants.get(token)
        if grant is None or grant.key not in self.objects:
            raise ClientRefused(404, "NoSuchKey")
        if grant.version is not None and self.versions[grant.key] != grant.version:
            raise ClientRefused(412, "VersionMismatch")
        data, stored_type = self.objects[grant.key]
        headers = {
            "Content-Type": grant.content_type or stored_type,
            "X-Content-Type-Options": "nosniff",
        }
        if grant.content_disposition is not None:
            headers["Content-Disposition"] = grant.content_disposition
        return data, headers

    # -- an attacker (or a backend without create-only) ------------------------------

    def replace_object(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Overwrite *key* behind the broker's back (a new version)."""
        if key not in self.objects:
            raise KeyError(key)
        self._write(key, data, content_type or self.objects[key][1], [])

    def set_served_type(self, key: str, content_type: str, *, new_version: bool = False) -> None:
        """Change the type *key* is served with, keeping its bytes.

        Keeps the version by default (GCS metadata updates keep the
        generation); ``new_version=True`` models Azure, whose ETag changes.
        """
        data, _ = self.objects[key]
        with self._lock:
            self.objects[key] = (data, content_type)
            if new_version:
                self.versions[key] = f"v{next(self._counter)}"

    # -- adapter --------------------------------------------------------------------

    def head(self, key: str) -> HeadResult:
        self._enter("head")
        try:
            data, ctype = self.objects[key]
        except KeyError:
            raise StorageNotFound(key) from None
        return HeadResult(
            size=len(data), content_type=ctype, etag=etag_of(data), version=self.versions[key]
        )

    def read_range(self, key: str, start: int, length: int, *, version: str | None = None) -> bytes:
        self._enter("read_range")
        try:
            data = self.objects[key][0]
        except KeyError:
            raise StorageNotFound(key) from None
        if version is not None and self.versions[key] != version:
            raise StorageConflict(f"{key!r} is no longer version {version!r}")
        return data[start : start + length]

    def delete(self, key: str) -> None:
        self._enter("delete")
        with self._lock:
            self.objects.pop(key, None)
            self.versions.pop(key, None)
            self.assembled.pop(key, None)

    def presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None = None,
        content_type: str | None = None,
        content_disposition: str | None = None,
    ) -> PresignedRequest:
        self._enter("presign_get")
        grant = GetGrant(key, expires_in, version, content_type, content_disposition)
        token = secrets.token_hex(8)
        with self._lock:
            self.gets.append(grant)
            self._grants[token] = grant
        return PresignedRequest(
            url=f"memory://get/{token}?sig={secrets.token_hex(8)}",
            method="GET",
            expires_at=utcnow() + dt.timedelta(seconds=expires_in),
        )

    def presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        self._enter("presign_put")
        headers = {"Content-Type": content_type}
        if content_length is not None:
            headers["Content-Length"] = str(content_length)
        return PresignedRequest(
            url=f"memory://put/{key}?sig={secrets.token_hex(8)}",
            method="PUT",
            headers=headers,
            expires_at=utcnow() + dt.timedelta(seconds=expires_in),
        )

    def presign_post(
        self, key: str, *, content_type: str, min_size: int, max_size: int, expires_in: int
    ) -> PresignedPost:
        self._enter("presign_post")
        expires_at = utcnow() + dt.timedelta(seconds=expires_in)
        grant = PostGrant(key, content_type, min_size, max_size, expires_at, self.post_create_only)
        token = secrets.token_hex(8)
        with self._lock:
            self.posts.append(grant)
            self._post_grants[token] = grant
        return PresignedPost(
            url="memory://post",
            fields={"key": key, "Content-Type": content_type, "policy": token},
            expires_at=expires_at,
            create_only=self.post_create_only,
        )

    @property
    def part_limits(self) -> PartLimits:
        return PartLimits(1, 1 << 30, 10_000, 1 << 40, etag_required=True)

    def create_multipart(self, key: str, *, content_type: str) -> MultipartUpload:
        self._enter("create_multipart")
        upload_id = secrets.token_hex(8)
        self.uploads[upload_id] = {}
        return MultipartUpload(upload_id=upload_id)

    def presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        expires_in: int,
        content_length: int | None = None,
    ) -> PresignedRequest:
        return PresignedRequest(
            url=f"memory://part/{upload_id}/{part_number}?sig=x",
            method="PUT",
            part_number=part_number,
            upload_id=upload_id,
        )

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        self._enter("list_parts")
        if upload_id not in self.uploads:
            raise StorageNotFound(upload_id)
        return [
            UploadedPart(n, etag_of(d), len(d)) for n, d in sorted(self.uploads[upload_id].items())
        ]

    def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart], *, content_type: str
    ) -> None:
        """Like S3: any subset of the uploaded parts is accepted, in the order given."""
        self._enter("complete_multipart")
        with self._lock:  # atomic, like the backend's own check-and-create
            self._complete(key, upload_id, parts, content_type)

    def _complete(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart], content_type: str
    ) -> None:
        held = self.uploads.get(upload_id)
        if held is None:
            raise StorageNotFound(upload_id)
        if key in self.objects:
            raise StorageConflict(f"{key!r} already exists")
        for p in parts:
            if p.part_number not in held:
                raise InvalidParts(f"part {p.part_number} was never uploaded")
            if p.etag is not None and p.etag != etag_of(held[p.part_number]):
                raise InvalidParts(f"part {p.part_number} has another ETag")
        data = b"".join(held[p.part_number] for p in parts)
        assembled = [
            UploadedPart(p.part_number, etag_of(held[p.part_number]), len(held[p.part_number]))
            for p in parts
        ]
        self._write(key, data, content_type, assembled)
        del self.uploads[upload_id]

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self._enter("abort_multipart")
        self.uploads.pop(upload_id, None)

    def committed_parts(self, key: str, *, upload_id: str | None = None) -> list[UploadedPart]:
        """The parts *key* was assembled from; only with ``COMMITTED_PARTS``.

        Without it, :class:`UploadUnsupported`, as a kit adapter refuses a
        withheld capability (the broker never asks: :func:`capabilities_of`).
        """
        if Capability.COMMITTED_PARTS not in self.capabilities:
            raise UploadUnsupported(Capability.COMMITTED_PARTS, storage=self.backend)
        self._enter("committed_parts")
        if key not in self.objects:
            raise StorageNotFound(key)
        return list(self.assembled[key])

    def create_resumable(
        self, key: str, *, content_type: str, size: int | None, origin: str | None
    ) -> ResumableUpload:
        self._enter("create_resumable")
        uri = f"memory://resumable/{secrets.token_hex(16)}"
        self.resumable[uri] = bytearray()
        return ResumableUpload(uri, secrets.token_hex(4), utcnow() + dt.timedelta(days=7))

    def resumable_status(self, key: str, session_uri: str) -> ResumableStatus:
        self._enter("resumable_status")
        if session_uri not in self.resumable:
            raise StorageNotFound("unknown session")
        done = key in self.objects
        return ResumableStatus(
            "complete" if done else "in_progress", len(self.resumable[session_uri])
        )

    def cancel_resumable(self, key: str, session_uri: str) -> None:
        self._enter("cancel_resumable")
        self.resumable.pop(session_uri, None)

    def close(self) -> None:
        self.closed += 1


def broker_factory(
    database: Database, memory: MemoryStorage, pm: pluggy.PluginManager
) -> Callable[..., Broker]:
    """A ``build(**overrides)`` making brokers on *database* and *memory* storage.

    Profiles ``images`` (PNG/JPEG up to 1 MB) and ``any``; inline jobs.
    """

    def build(**overrides: Any) -> Broker:
        options: dict[str, Any] = {
            "profiles": [
                Profile(
                    name="images",
                    storage="mem",
                    allow_mime=["image/png", "image/jpeg"],
                    max_bytes=1_000_000,
                ),
                Profile(name="any", storage="mem"),
            ],
            "storages": {"mem": memory},
            "plugin_manager": pm,
            "job_mode": "inline",
        }
        options.update(overrides)
        return Broker(options.pop("database", database), **options)

    return build
