"""Multipart uploads on disk: one staging directory per upload.

``root/.rindle-multipart/<upload id>/`` holds ``upload.json`` (the key and
content type the upload was created for) and one file per received part
body, ``<number:05d>.<md5 hex>.part``. A part is named by its digest, which
is also the ETag its upload was answered with, so completing with a part
list picks exactly the bodies the client was told about. A body is received
into a temporary file, fsynced and renamed into place; of several bodies
sent for one number the newest (modification time, then name) is listed and
the others are removed. No key can name anything here: names starting with
``.rindle`` are reserved (ADR 0051).

Completing streams the chosen parts, in order and one open file at a time,
through :meth:`Disk.write` (create-only, fsynced) and records the upload id
and the part list's digest in the object's sidecar, so a complete retried
after its answer was lost converges. Then the staging directory is renamed
aside (a part upload still in flight can no longer land in it) and removed.
Completes and aborts of one upload hold an exclusive ``flock`` on its
``upload.json`` (across processes; on systems without ``fcntl``, within the
process only), so two racing completes never both assemble.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Final

import attrs

from rindle_core._checksums import RunningChecksum
from rindle_core._errors import InvalidParts, StorageConflict, StorageError, StorageNotFound
from rindle_core.storage import PartLimits, UploadedPart

from ._disk import (
    CHUNK,
    TMP_SUFFIX,
    Disk,
    IncompleteBody,
    KeyConflict,
    ObjectExists,
    Reader,
    WriteRefused,
)

if sys.platform != "win32":
    import fcntl

__all__ = ["PART_LIMITS", "UPLOADS_DIR", "BadDigest", "Staging", "UploadGone", "parts_etag"]

MiB: Final = 1024**2
#: S3's limits, so clients tuned for S3 (Uppy's 5 MiB chunks) work unchanged.
PART_LIMITS: Final = PartLimits(
    min_part_size=5 * MiB,
    max_part_size=5 * 1024 * MiB,
    max_parts=10_000,
    max_object_size=5 * 1024 * 1024 * MiB,
    checksum_algorithms=frozenset({"crc32"}),
)
UPLOADS_DIR: Final = ".rindle-multipart"
MANIFEST: Final = "upload.json"

_UPLOAD_ID: Final = re.compile(r"\A[0-9a-f]{32}\Z")
_PART: Final = re.compile(r"\A([0-9]{5})\.([0-9a-f]{32})\.part\Z")
#: A part's ETag as a client sends it back: quoted or not (Uppy mixes both).
_ETAG: Final = re.compile(r'\A"?([0-9a-fA-F]{32})"?\Z')

logger = logging.getLogger("rindle_core.local")

# Where flock is missing, completes and aborts are kept apart in-process only.
_GUARDS: Final = tuple(threading.Lock() for _ in range(16))


class UploadGone(WriteRefused):
    """The multipart upload a part was sent for does not exist (any more)."""

    status = 404
    code = "NoSuchUpload"


class BadDigest(WriteRefused):
    """The part's bytes do not have the checksum its URL binds (S3's ``BadDigest``)."""

    code = "BadDigest"


class _PartVanished(Exception):
    """A part file disappeared while the upload was being assembled."""


@attrs.frozen
class Manifest:
    """What ``upload.json`` records about a multipart upload."""

    key: str
    content_type: str
    created: int
    #: The algorithm every part's checksum is bound in, or None (then none may be).
    checksum_algorithm: str | None = None


def parts_etag(parts: Sequence[UploadedPart]) -> str:
    """S3's digest of a part list: MD5 of the parts' binary MD5s, ``-`` the count.

    InvalidParts when an ETag is not the MD5 this backend answers parts with.
    """
    combined = hashlib.md5(usedforsecurity=False)
    for part in parts:
        combined.update(bytes.fromhex(_digest(part)))
    return f"{combined.hexdigest()}-{len(parts)}"


def _digest(part: UploadedPart) -> str:
    match = _ETAG.fullmatch(part.etag or "")
    if match is None:
        raise InvalidParts(f"part {part.part_number}: the ETag is not one this upload answered")
    return match[1].lower()


class Staging:
    """The multipart uploads of one :class:`Disk`."""

    def __init__(self, disk: Disk) -> None:
        self._disk = disk
        self.base: Final = disk.root / UPLOADS_DIR

    # -- create -----------------------------------------------------------------

    def create(self, key: str, content_type: str, checksum_algorithm: str | None = None) -> str:
        """Open a multipart upload of *key*; its new, unguessable upload id. With
        *checksum_algorithm*, every part must arrive with its checksum, verified."""
        self._disk.path(key)  # the local key rules
        self._disk.check_root()
        upload_id = secrets.token_hex(16)
        directory = self.base / upload_id
        try:
            self.base.mkdir(mode=0o700, exist_ok=True)
            directory.mkdir(mode=0o700)
            record = attrs.asdict(Manifest(key, content_type, int(time.time()), checksum_algorithm))
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".upload.", suffix=TMP_SUFFIX)
            with os.fdopen(fd, "wb") as fh:
                fh.write(json.dumps(record).encode("utf-8"))
                self._disk.sync_file(fh)
            os.replace(tmp, directory / MANIFEST)
            self._disk.sync_dir(directory)
            self._disk.sync_dir(self.base)
        except OSError as exc:
            shutil.rmtree(directory, ignore_errors=True)
            self._disk.check_root()
            raise StorageError(
                f"cannot create a multipart upload of key {key!r} ({exc.strerror})"
            ) from None
        return upload_id

    # -- lookups ----------------------------------------------------------------

    def manifest(self, key: str, upload_id: str) -> Manifest:
        """The upload *upload_id* of *key*; StorageNotFound when there is none."""
        directory = self._directory(key, upload_id)
        try:
            data = (directory / MANIFEST).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise self._unknown(key, upload_id) from None
        except OSError as exc:
            raise StorageError(
                f"cannot read a multipart upload of key {key!r} ({exc.strerror})"
            ) from None
        return self._parse(key, upload_id, data)

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        """The newest body of each part received so far, by number."""
        directory = self._directory(key, upload_id)
        self.manifest(key, upload_id)
        try:
            latest = self._latest(directory)
        except FileNotFoundError:
            raise self._unknown(key, upload_id) from None
        except OSError as exc:
            raise StorageError(f"cannot list the parts of key {key!r} ({exc.strerror})") from None
        return [
            UploadedPart(number, f'"{digest}"', size)
            for number, (_, digest, size) in sorted(latest.items())
        ]

    # -- parts --------------------------------------------------------------------

    def write_part(
        self,
        key: str,
        upload_id: str,
        number: int,
        source: Reader,
        *,
        length: int,
        checksum: str | None = None,
    ) -> UploadedPart:
        """Receive part *number*: exactly *length* bytes read from *source*,
        whose *checksum* (in the upload's algorithm) the URL bound.

        Raises :class:`UploadGone` (no such upload of *key*, or it completed
        or was aborted meanwhile), :class:`IncompleteBody` when *source* ends
        early, :class:`BadDigest` when the bytes do not match *checksum* (or
        a checksum is missing or unexpected), and whatever *source* raises;
        nothing is kept in those cases.
        """
        try:
            manifest = self.manifest(key, upload_id)
        except StorageNotFound:
            raise UploadGone("the multipart upload does not exist") from None
        algorithm = manifest.checksum_algorithm
        if (algorithm is None) != (checksum is None):
            raise BadDigest(
                f"this upload binds {algorithm} part checksums: the URL binds none"
                if algorithm is not None
                else "this upload binds no part checksums"
            )
        directory = self.base / upload_id
        try:
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".part.", suffix=TMP_SUFFIX)
        except (FileNotFoundError, NotADirectoryError):
            raise UploadGone("the multipart upload does not exist") from None
        leftover: str | None = tmp
        try:
            digest = hashlib.md5(usedforsecurity=False)
            running = None if algorithm is None else RunningChecksum(algorithm)
            size = 0
            with os.fdopen(fd, "wb") as fh:
                while size < length:
                    chunk = source.read(min(CHUNK, length - size))
                    if not chunk:
                        break
                    size += len(chunk)
                    digest.update(chunk)
                    if running is not None:
                        running.update(chunk)
                    fh.write(chunk)
                if size < length:
                    raise IncompleteBody(f"the body ended after {size} of {length} bytes")
                if running is not None and running.result().value != checksum:
                    raise BadDigest(f"the part's {algorithm} is not the one its URL binds")
                self._disk.sync_file(fh)
            name = f"{number:05d}.{digest.hexdigest()}.part"
            try:
                os.replace(tmp, directory / name)
            except FileNotFoundError:
                raise UploadGone("the multipart upload ended while the part arrived") from None
            leftover = None
            with contextlib.suppress(FileNotFoundError):
                self._disk.sync_dir(directory)
            self._drop_older(directory, number, name)
        finally:
            if leftover is not None:
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
        return UploadedPart(number, f'"{digest.hexdigest()}"', size)

    # -- complete and abort -----------------------------------------------------------

    def complete(self, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> None:
        """Assemble *parts* (checked, ascending) into *key*, create-only, then drop the staging.

        Raises :class:`InvalidParts` (a part never received, an ETag that
        matches no received body, a part but the last under the minimum),
        :class:`StorageConflict` (*key* holds an object this upload did not
        make) and :class:`StorageNotFound` (no such upload). Completing again
        with the same list after a success succeeds again.
        """
        digest = parts_etag(parts)
        try:
            with self._held(key, upload_id) as (directory, manifest):
                if self._made_by_this(key, upload_id, digest, directory):
                    return
                paths, total = self._chosen(directory, parts)
                self._assemble(key, upload_id, digest, manifest, paths, total)
                self._remove(directory)
        except StorageNotFound:
            meta = self._disk.stored_meta(key)
            if meta is not None and (meta.upload_id, meta.parts_etag) == (upload_id, digest):
                return  # completed before; the answer was lost
            raise

    def abort(self, key: str, upload_id: str) -> None:
        """Drop the upload and its parts; StorageNotFound when there is none."""
        with self._held(key, upload_id) as (directory, _):
            self._remove(directory)

    # -- internals ------------------------------------------------------------------

    def _directory(self, key: str, upload_id: str) -> Path:
        self._disk.path(key)
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise self._unknown(key, upload_id)
        return self.base / upload_id

    def _unknown(self, key: str, upload_id: str) -> StorageNotFound:
        self._disk.check_root()
        shown = upload_id if len(upload_id) <= 40 else upload_id[:37] + "..."
        return StorageNotFound(f"no multipart upload {shown!r} of key {key!r}")

    def _parse(self, key: str, upload_id: str, data: bytes) -> Manifest:
        try:
            record = json.loads(data)
            manifest = Manifest(
                key=str(record["key"]),
                content_type=str(record["content_type"]),
                created=int(record["created"]),
                checksum_algorithm=record.get("checksum_algorithm"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(
                f"the staging of a multipart upload of key {key!r} is damaged ({exc})"
            ) from None
        if manifest.key != key:  # the upload id is bound to its key
            raise self._unknown(key, upload_id)
        return manifest

    @contextlib.contextmanager
    def _held(self, key: str, upload_id: str) -> Iterator[tuple[Path, Manifest]]:
        """The upload's directory and manifest, under its exclusive lock."""
        directory = self._directory(key, upload_id)
        path = directory / MANIFEST
        try:
            fh = path.open("rb")
        except (FileNotFoundError, NotADirectoryError):
            raise self._unknown(key, upload_id) from None
        except OSError as exc:
            raise StorageError(
                f"cannot open a multipart upload of key {key!r} ({exc.strerror})"
            ) from None
        with fh, _exclusive(fh, upload_id):
            # A complete or abort that held the lock before us may have removed it.
            try:
                still = os.path.samestat(path.stat(), os.fstat(fh.fileno()))
            except FileNotFoundError:
                still = False
            if not still:
                raise self._unknown(key, upload_id)
            yield directory, self._parse(key, upload_id, fh.read())

    def _made_by_this(self, key: str, upload_id: str, digest: str, directory: Path) -> bool:
        """Whether *key* already holds what this upload completes to.

        ``True`` when this upload made it with this part list (its staging
        is then removed); :class:`StorageConflict` when *key* holds another
        object; :class:`StorageNotFound` when this upload made it with
        another list (the upload is finished).
        """
        meta = self._disk.stored_meta(key)
        if meta is None:
            return False
        if meta.upload_id != upload_id:
            raise StorageConflict(f"key {key!r} already holds an object")
        self._remove(directory)  # completed before: a crash kept the staging
        if meta.parts_etag != digest:
            raise StorageNotFound(f"the multipart upload of key {key!r} completed already")
        return True

    def _chosen(self, directory: Path, parts: Sequence[UploadedPart]) -> tuple[list[Path], int]:
        """The files of *parts* and their total size; InvalidParts when they do not fit."""
        chosen: list[Path] = []
        sizes: list[int] = []
        missing: list[int] = []
        mismatched: list[int] = []
        for part in parts:
            path = directory / f"{part.part_number:05d}.{_digest(part)}.part"
            try:
                sizes.append(path.stat().st_size)
                chosen.append(path)
            except FileNotFoundError:
                held = any(directory.glob(f"{part.part_number:05d}.*.part"))
                (mismatched if held else missing).append(part.part_number)
        if missing:
            shown = ", ".join(map(str, missing[:10]))
            raise InvalidParts(f"parts {shown} were never uploaded", missing=tuple(missing))
        if mismatched:
            shown = ", ".join(map(str, mismatched[:10]))
            raise InvalidParts(f"the ETags of parts {shown} match no uploaded body")
        minimum = PART_LIMITS.min_part_size
        small = [
            p.part_number for p, size in zip(parts[:-1], sizes, strict=False) if size < minimum
        ]
        if small:
            raise InvalidParts(
                f"part {small[0]} is smaller than {minimum} bytes (5 MiB); "
                "only the last part may be"
            )
        total = sum(sizes)
        if total > PART_LIMITS.max_object_size:
            raise InvalidParts(f"the parts add up to more than {PART_LIMITS.max_object_size} bytes")
        return chosen, total

    def _assemble(
        self,
        key: str,
        upload_id: str,
        digest: str,
        manifest: Manifest,
        paths: list[Path],
        total: int,
    ) -> None:
        source = _Concatenated(paths)
        try:
            self._disk.write(
                key,
                source,
                content_type=manifest.content_type,
                length=total,
                upload_id=upload_id,
                parts_etag=digest,
            )
        except ObjectExists:
            raise StorageConflict(f"key {key!r} already holds an object") from None
        except KeyConflict as exc:
            raise StorageError(str(exc)) from None
        except _PartVanished as exc:
            raise InvalidParts(
                f"{exc} was replaced while completing; list the parts again"
            ) from None
        except IncompleteBody:
            raise StorageError(f"a part of key {key!r} was changed behind rindle's back") from None
        except OSError as exc:
            raise StorageError(f"cannot assemble key {key!r} ({exc.strerror})") from None
        finally:
            source.close()

    def _remove(self, directory: Path) -> None:
        """Rename the staging aside (nothing lands in it any more), then delete it."""
        aside = self.base / f".gone-{directory.name}-{secrets.token_hex(4)}"
        try:
            os.rename(directory, aside)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"cannot remove a multipart staging ({exc.strerror})") from None
        shutil.rmtree(aside, ignore_errors=True)
        if os.path.lexists(aside):
            logger.warning("local storage: could not remove %s", aside)

    def _latest(self, directory: Path) -> dict[int, tuple[tuple[int, str], str, int]]:
        """Per part number: (order, digest, size) of its newest body."""
        best: dict[int, tuple[tuple[int, str], str, int]] = {}
        with os.scandir(directory) as entries:
            for entry in entries:
                match = _PART.fullmatch(entry.name)
                if match is None:
                    continue
                try:
                    info = entry.stat()
                except FileNotFoundError:
                    continue  # replaced meanwhile
                number, order = int(match[1]), (info.st_mtime_ns, entry.name)
                if number not in best or order > best[number][0]:
                    best[number] = (order, match[2], info.st_size)
        return best

    def _drop_older(self, directory: Path, number: int, mine: str) -> None:
        """Remove the bodies of part *number* older than *mine* (best effort).

        Every writer removes only what is older than its own body, so of
        racing writers the newest body always survives.
        """
        prefix = f"{number:05d}."
        try:
            own = (os.stat(directory / mine).st_mtime_ns, mine)
            with os.scandir(directory) as entries:
                older = [
                    entry.path
                    for entry in entries
                    if entry.name != mine
                    and entry.name.startswith(prefix)
                    and _PART.fullmatch(entry.name)
                    and (entry.stat().st_mtime_ns, entry.name) < own
                ]
        except OSError:
            return
        for path in older:
            with contextlib.suppress(OSError):
                os.unlink(path)


class _Concatenated:
    """Reads part files one after another, one open at a time."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._paths = iter(paths)
        self._current: BinaryIO | None = None

    def read(self, size: int, /) -> bytes:
        while True:
            if self._current is None:
                path = next(self._paths, None)
                if path is None:
                    return b""
                try:
                    self._current = path.open("rb")
                except FileNotFoundError:
                    raise _PartVanished(f"part {int(path.name[:5])}") from None
            chunk = self._current.read(size)
            if chunk:
                return chunk
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None


@contextlib.contextmanager
def _exclusive(fh: BinaryIO, upload_id: str) -> Iterator[None]:
    """Hold the upload's lock: ``flock`` on its open manifest (released on close)."""
    if sys.platform != "win32":
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield
    else:  # pragma: no cover - no flock: this process only
        with _GUARDS[hash(upload_id) % len(_GUARDS)]:
            yield
