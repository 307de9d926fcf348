"""The on-disk layout of a local storage root.

Objects live at ``root/<key>``. Each object's content type, size, ETag and
a random per-write nonce live beside it in a small JSON sidecar
``.<name>.rindle-meta``. Writes are **create-only**: the body goes to a
temporary file in the object's own directory, which is committed with
:func:`os.link` (that fails when the key already holds an object, so of two
concurrent writers exactly one wins, across processes too) and then
unlinked. A reader sees a whole object or none, an existing object is never
replaced, and a refused or failed write leaves nothing behind (not even the
directories it created). Names starting with ``.rindle`` or ending with
``.rindle-meta`` / ``.rindle-tmp`` are reserved and never valid in a key,
so no key reaches ``root/.rindle-secret`` or the multipart staging area
``root/.rindle-multipart/`` (see :mod:`._staging`).

An object's *version* (:attr:`HeadResult.version`) is a digest of its
identity: the sidecar's nonce (the inode when there is no sidecar), size,
modification time and content type. Deleting and re-creating a key, or
rewriting the file behind rindle's back, changes it; copying the root with
its timestamps (``cp -a``, ``rsync -a``, ``tar``) keeps it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import stat
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO, Final, Protocol

import attrs

from rindle_core._errors import (
    ConfigurationError,
    InvalidArgument,
    StorageConflict,
    StorageError,
    StorageNotFound,
)
from rindle_core.storage import HeadResult

__all__ = [
    "BodyTimeout",
    "BodyTooLarge",
    "Disk",
    "IncompleteBody",
    "KeyConflict",
    "Meta",
    "ObjectExists",
    "Reader",
    "WriteRefused",
    "load_secret",
    "validate_key",
]

CHUNK: Final = 256 * 1024
META_SUFFIX: Final = ".rindle-meta"
TMP_SUFFIX: Final = ".rindle-tmp"
RESERVED_PREFIX: Final = ".rindle"
SECRET_FILE: Final = ".rindle-secret"  # noqa: S105 (a file name)
MIN_SECRET_BYTES: Final = 16
MAX_KEY_BYTES: Final = 1024
#: Leaves room for the sidecar's and temporary files' decorations (NAME_MAX is 255).
MAX_SEGMENT_BYTES: Final = 200

# Striped locks order a write's link + sidecar against a delete of the same
# key in this process (across processes the orders below keep them apart);
# keys are unique per upload session, so contention is rare.
_LOCKS: Final = tuple(threading.Lock() for _ in range(64))


def _lock_for(path: Path) -> threading.Lock:
    return _LOCKS[hash(str(path)) % len(_LOCKS)]


class Reader(Protocol):
    """Where a write reads its body from (a file, ``wsgi.input``, parts in a row)."""

    def read(self, size: int, /) -> bytes: ...


# --- errors a write can meet (the receiver maps them to statuses) ------------


class WriteRefused(Exception):
    """A write was refused; nothing was stored."""

    status: int = 400
    code: str = "InvalidRequest"


class IncompleteBody(WriteRefused):
    """The body ended before the declared length."""

    code = "IncompleteBody"


class BodyTimeout(WriteRefused):
    """The client stopped sending the body for longer than the server waits."""

    code = "RequestTimeout"


class BodyTooLarge(WriteRefused):
    """The body is larger than allowed."""

    status = 413
    code = "EntityTooLarge"


class KeyConflict(WriteRefused):
    """The key collides with a directory, or a parent is a file."""

    status = 409
    code = "KeyConflict"


class ObjectExists(WriteRefused):
    """The key already holds an object: uploads are create-only."""

    status = 412
    code = "PreconditionFailed"


# --- keys and secrets --------------------------------------------------------


def _bad_key(key: str, why: str) -> InvalidArgument:
    shown = key if len(key) <= 80 else key[:77] + "..."
    return InvalidArgument(f"invalid storage key {shown!r}: {why}")


def validate_key(key: object) -> str:
    """Return *key* if it is a safe relative object key, else raise InvalidArgument."""
    if not isinstance(key, str) or not key:
        raise InvalidArgument("a storage key must be a non-empty string")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise _bad_key(key, f"longer than {MAX_KEY_BYTES} bytes")
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in key):
        raise _bad_key(key, "control characters are not allowed")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in key):
        raise _bad_key(key, "not valid UTF-8")
    if "\\" in key:
        raise _bad_key(key, "backslashes are not allowed")
    if key.startswith("/"):
        raise _bad_key(key, "absolute keys are not allowed")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise _bad_key(key, "empty, '.' and '..' segments are not allowed")
        if segment.startswith(RESERVED_PREFIX) or segment.endswith((META_SUFFIX, TMP_SUFFIX)):
            raise _bad_key(key, "names starting with '.rindle' are reserved")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise _bad_key(key, f"a segment is longer than {MAX_SEGMENT_BYTES} bytes")
    return key


def load_secret(root: Path, secret: bytes | str | None) -> bytes:
    """The signing secret: *secret*, or ``root/.rindle-secret`` (created 0600 if absent)."""
    if secret is not None:
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
            raise ConfigurationError(f"option 'secret' must be at least {MIN_SECRET_BYTES} bytes")
        return secret
    path = root / SECRET_FILE
    with contextlib.suppress(FileNotFoundError):
        return _read_secret(path)
    # Write a complete file under a temporary name, then link it into place:
    # a concurrent starter either wins the link or reads the winner's file.
    fd, tmp = tempfile.mkstemp(dir=root, prefix=SECRET_FILE + ".", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    data = path.read_bytes()
    if len(data) < MIN_SECRET_BYTES:
        raise ConfigurationError(f"the local storage secret file {str(path)!r} is too short")
    return data


# --- the store -----------------------------------------------------------------


@attrs.frozen
class Meta:
    """What the sidecar records about an object."""

    content_type: str | None
    size: int
    etag: str | None
    #: Random per write: tells a re-created object from the one it replaced.
    nonce: str | None = None
    #: For an object assembled from a multipart upload: that upload's id and
    #: the S3-style digest of its part list, so a retried complete converges.
    upload_id: str | None = None
    parts_etag: str | None = None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def version_of(info: os.stat_result, meta: Meta | None) -> str:
    """The opaque version of the object *info* describes (see the module docstring)."""
    identity: object = meta.nonce if meta is not None and meta.nonce else ["ino", info.st_ino]
    fields = [
        identity,
        info.st_size,
        info.st_mtime_ns,
        meta.content_type if meta is not None else None,
    ]
    digest = hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode("utf-8"))
    return digest.hexdigest()[:32]


class Disk:
    """Objects under one root directory.

    The root is created when the :class:`Disk` is; a root that disappears
    later (deleted, unmounted) is reported as a :class:`StorageError`, never
    as a missing object, and is not silently re-created by a write.
    """

    def __init__(self, root: Path | str, *, fsync: bool = True) -> None:
        path = Path(root).expanduser()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"option 'root': cannot create {str(path)!r} ({exc.strerror})"
            ) from None
        self.root: Final = path.resolve()
        self.fsync: Final = fsync

    # -- paths --------------------------------------------------------------

    def path(self, key: str) -> Path:
        """The file that holds *key* (validated; never outside the root)."""
        validate_key(key)
        resolved = self.root.joinpath(*key.split("/")).resolve()
        if not resolved.is_relative_to(self.root) or resolved == self.root:
            raise _bad_key(key, "it resolves outside the storage root")
        return resolved

    @staticmethod
    def meta_path(path: Path) -> Path:
        """The sidecar of the object at *path*."""
        return path.with_name(f".{path.name}{META_SUFFIX}")

    # -- reads ----------------------------------------------------------------

    def head(self, key: str) -> HeadResult:
        """Size, content type, ETag and version of *key*; StorageNotFound if absent."""
        path = self.path(key)
        return self._head(path, self._stat(key, path))

    def stored_meta(self, key: str) -> Meta | None:
        """What the sidecar of *key* records, or ``None`` when the key holds no object.

        An object without a (current) sidecar gets a :class:`Meta` with its
        size only.
        """
        path = self.path(key)
        try:
            info = self._stat(key, path)
        except StorageNotFound:
            return None
        meta = self._meta(path)
        if meta is None or meta.size != info.st_size:
            return Meta(content_type=None, size=info.st_size, etag=None)
        return meta

    def check_creatable(self, key: str) -> Path:
        """The path of *key* if it can be created now, else why not.

        Raises :class:`StorageError` (the root is gone), :class:`KeyConflict`
        (the key names a directory) or :class:`ObjectExists`.
        """
        path = self.path(key)
        self.check_root()
        if path.is_dir():
            raise KeyConflict(f"key {key!r} names a directory")
        if os.path.lexists(path):
            raise ObjectExists(f"key {key!r} already holds an object")
        return path

    def open(self, key: str, *, version: str | None = None) -> tuple[BinaryIO, HeadResult]:
        """Open *key* for reading (the caller closes it); StorageNotFound if absent.

        With *version*, :class:`StorageConflict` unless the object has it.
        """
        path = self.path(key)
        try:
            fh = path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise self._not_found(key) from None
        except OSError as exc:
            raise StorageError(f"cannot read key {key!r} ({exc.strerror})") from None
        try:
            head = self._head(path, os.fstat(fh.fileno()))
            if version is not None and head.version != version:
                raise StorageConflict(f"key {key!r} no longer holds the expected version")
        except BaseException:
            fh.close()
            raise
        return fh, head

    def read_range(self, key: str, start: int, length: int, *, version: str | None = None) -> bytes:
        """Up to *length* bytes of *key* from *start* (clipped at the end)."""
        fh, _ = self.open(key, version=version)
        with fh:
            fh.seek(start)
            return fh.read(length)

    def check_root(self) -> None:
        """Raise :class:`StorageError` when the root directory is gone."""
        if not self.root.is_dir():
            raise StorageError(
                f"the local storage root {str(self.root)!r} does not exist (deleted or unmounted?)"
            )

    def _not_found(self, key: str) -> StorageError:
        """StorageNotFound for *key*, unless the whole root is missing."""
        self.check_root()
        return StorageNotFound(f"no object at key {key!r}")

    def _stat(self, key: str, path: Path) -> os.stat_result:
        try:
            info = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise self._not_found(key) from None
        except OSError as exc:
            raise StorageError(f"cannot stat key {key!r} ({exc.strerror})") from None
        if not stat.S_ISREG(info.st_mode):
            raise StorageNotFound(f"no object at key {key!r}")
        return info

    def _head(self, path: Path, info: os.stat_result) -> HeadResult:
        """Combine the object's actual size with its sidecar (ignored when stale)."""
        meta = self._meta(path)
        if meta is not None and meta.size != info.st_size:
            meta = None
        version = version_of(info, meta)
        if meta is None:
            return HeadResult(size=info.st_size, version=version)
        return HeadResult(
            size=info.st_size, content_type=meta.content_type, etag=meta.etag, version=version
        )

    def _meta(self, path: Path) -> Meta | None:
        try:
            data = json.loads(self.meta_path(path).read_bytes())
            return Meta(
                content_type=data.get("content_type"),
                size=int(data["size"]),
                etag=data.get("etag"),
                nonce=_text(data.get("nonce")),
                upload_id=_text(data.get("upload_id")),
                parts_etag=_text(data.get("parts_etag")),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    # -- writes ---------------------------------------------------------------

    def write(
        self,
        key: str,
        source: Reader,
        *,
        content_type: str,
        length: int | None,
        max_size: int | None = None,
        upload_id: str | None = None,
        parts_etag: str | None = None,
    ) -> HeadResult:
        """Store *length* bytes read from *source* (all of it when ``None``), create-only.

        *upload_id* and *parts_etag* go into the sidecar of an object
        assembled from a multipart upload.

        Raises :class:`ObjectExists` when the key already holds an object
        (checked before reading and again, atomically, at the commit),
        :class:`IncompleteBody` when *source* ends early, :class:`BodyTooLarge`
        past *max_size*, :class:`KeyConflict` when the key collides with a
        directory; nothing is stored in any of these cases. Whatever *source*
        raises (e.g. :class:`BodyTimeout`) propagates, again storing nothing.
        """
        path = self.check_creatable(key)
        tmp: str | None = None
        meta_tmp: str | None = None
        try:
            fd, tmp = self._mkstemp(key, path)
            digest = hashlib.md5(usedforsecurity=False)
            size = 0
            with os.fdopen(fd, "wb") as fh:
                while length is None or size < length:
                    want = CHUNK if length is None else min(CHUNK, length - size)
                    chunk = source.read(want)
                    if not chunk:
                        break
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise BodyTooLarge(f"the body is larger than {max_size} bytes")
                    digest.update(chunk)
                    fh.write(chunk)
                if length is not None and size < length:
                    raise IncompleteBody(f"the body ended after {size} of {length} bytes")
                self.sync_file(fh)
                info = os.fstat(fh.fileno())
            etag = f'"{digest.hexdigest()}"'
            meta = Meta(content_type, size, etag, secrets.token_hex(16), upload_id, parts_etag)
            meta_fd, meta_tmp = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX
            )
            with os.fdopen(meta_fd, "wb") as fh:
                record = attrs.asdict(meta)
                fh.write(json.dumps(record).encode("utf-8"))
                self.sync_file(fh)
            with _lock_for(path):
                # The link is the commit point and refuses an existing key;
                # only its winner then places the sidecar (a delete removes
                # the sidecar before the object, so it never removes ours).
                self._link(key, tmp, path)
                os.replace(meta_tmp, self.meta_path(path))
                meta_tmp = None
            os.unlink(tmp)
            tmp = None
            self.sync_dir(path.parent)
            return HeadResult(
                size=size, content_type=content_type, etag=etag, version=version_of(info, meta)
            )
        except BaseException:
            for leftover in (tmp, meta_tmp):
                if leftover is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(leftover)
            if tmp is not None or meta_tmp is not None or not path.exists():
                self._prune(path.parent)
            raise

    def _link(self, key: str, tmp: str, path: Path) -> None:
        """Give the finished temporary file its name, unless the name is taken."""
        try:
            os.link(tmp, path, follow_symlinks=False)
        except FileExistsError:
            if path.is_dir():
                raise KeyConflict(f"key {key!r} names a directory") from None
            raise ObjectExists(f"key {key!r} already holds an object") from None
        except (PermissionError, NotImplementedError) as exc:
            raise StorageError(
                f"cannot create key {key!r}: the storage root's file system must "
                f"support hard links ({exc})"
            ) from None

    def _mkstemp(self, key: str, path: Path) -> tuple[int, str]:
        # A concurrent delete may prune a directory we just created: retry.
        for _ in range(5):
            try:
                self._make_parents(path)
                return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
            except FileNotFoundError:
                self.check_root()
                continue
            except (FileExistsError, NotADirectoryError):
                raise KeyConflict(f"a parent of key {key!r} is an object") from None
        raise StorageError(f"cannot create the directory of key {key!r}")

    def _make_parents(self, path: Path) -> None:
        """Create the directories between the root and *path* (never the root itself)."""
        current = self.root
        for part in path.parent.relative_to(self.root).parts:
            current = current / part
            try:
                current.mkdir()
            except FileExistsError:
                if not current.is_dir():
                    raise

    def sync_file(self, fh: BinaryIO) -> None:
        """Flush *fh* and, unless disabled, fsync it."""
        fh.flush()
        if self.fsync:
            os.fsync(fh.fileno())

    def sync_dir(self, directory: Path) -> None:
        """Fsync *directory* (its entries), unless disabled."""
        if not self.fsync:
            return
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- delete ---------------------------------------------------------------

    def delete(self, key: str) -> None:
        """Remove *key* and its sidecar; a missing key is not an error (a missing root is)."""
        path = self.path(key)
        removed = False
        with _lock_for(path):
            # The sidecar first: a writer links the object and only then
            # places its sidecar, so this order never deletes a new sidecar.
            for target in (self.meta_path(path), path):
                try:
                    os.unlink(target)
                    removed = True
                except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                    pass
                except OSError as exc:
                    raise StorageError(f"cannot delete key {key!r} ({exc.strerror})") from None
        if not removed:
            self.check_root()
        self._prune(path.parent)

    def _prune(self, directory: Path) -> None:
        """Remove empty directories from *directory* up to (not including) the root."""
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent
