"""The ``local`` storage adapter: objects on disk, uploads through the receiver."""

from __future__ import annotations

import datetime as dt
import io
import os
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Final, NoReturn
from urllib.parse import quote, urlencode, urlsplit

import attrs

from rindle_core._errors import ConfigurationError, InvalidArgument, StorageConflict, StorageError
from rindle_core.storage import (
    Capability,
    HeadResult,
    MultipartInit,
    PartLimits,
    PresignedRequest,
    ResumableInit,
    ResumableStatus,
    UploadedPart,
)

from . import _tokens
from ._disk import Disk, KeyConflict, ObjectExists, load_secret
from ._receiver import DEFAULT_MAX_BODY, OBJECT_PREFIX, UploadReceiver

__all__ = ["LocalStorage"]

#: Longest a local signed URL may live (the same ceiling as S3's).
MAX_EXPIRES_IN: Final = 7 * 24 * 3600
#: Longest response-header override a download URL may carry.
MAX_HEADER_VALUE: Final = 1024


class LocalStorage:
    """Objects on disk under *root*; presigned URLs point at an :class:`UploadReceiver`.

    ``base_url`` is where the receiver is reachable (mounted in the host app
    or run by :func:`serve_receiver`); without it the adapter can still head,
    read and delete, but not sign. ``secret`` signs the URLs; when omitted it
    is read from ``root/.rindle-secret``, which is created (mode 0600) if
    absent, so every process sharing the root shares the secret.

    The root is created here if missing; if it disappears later, every call
    raises :class:`~rindle_core.StorageError` (never ``StorageNotFound``).
    Uploads are create-only: a signed PUT to a key that holds an object is
    refused (412) and writes nothing.
    """

    backend: str = "local"
    capabilities: frozenset[Capability] = frozenset(
        {
            Capability.PRESIGNED_PUT,
            Capability.HEAD,
            Capability.RANGE_READ,
            Capability.DELETE,
            Capability.SIGNED_GET,
        }
    )

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        base_url: str | None = None,
        secret: bytes | str | None = None,
        fsync: bool = True,
    ) -> None:
        if not isinstance(root, str | os.PathLike) or not str(root):
            raise ConfigurationError("option 'root' must be a directory path")
        self._disk = Disk(Path(root), fsync=fsync)
        self._base_url = _check_base_url(base_url)
        self._secret = load_secret(self._disk.root, secret)

    @property
    def root(self) -> Path:
        """The resolved root directory."""
        return self._disk.root

    @property
    def base_url(self) -> str | None:
        """Where the receiver is reachable, or ``None``."""
        return self._base_url

    def close(self) -> None:
        """Nothing to close: the local backend holds no connections."""

    def __repr__(self) -> str:
        return f"LocalStorage(root={str(self.root)!r}, base_url={self._base_url!r})"

    def receiver(
        self, *, max_body: int = DEFAULT_MAX_BODY, allow_origins: Collection[str] = ()
    ) -> UploadReceiver:
        """A WSGI receiver for this root and secret, to mount in a host app."""
        return UploadReceiver(
            self.root,
            self._secret,
            max_body=max_body,
            allow_origins=allow_origins,
            fsync=self._disk.fsync,
        )

    # -- HEAD / RANGE_READ / DELETE ------------------------------------------

    def head(self, key: str) -> HeadResult:
        """Size, content type, ETag and version of *key*."""
        return self._disk.head(key)

    def read_range(self, key: str, start: int, length: int, *, version: str | None = None) -> bytes:
        """*length* bytes of *key* from *start*, clipped at the object's end.

        With *version*, :class:`~rindle_core.StorageConflict` unless the
        object still has that :attr:`HeadResult.version`.
        """
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise InvalidArgument("start must be a non-negative integer")
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise InvalidArgument("length must be a non-negative integer")
        if version is not None and not isinstance(version, str):
            raise InvalidArgument("version must be a string or None")
        return self._disk.read_range(key, start, length, version=version)

    def delete(self, key: str) -> None:
        """Delete *key*; deleting a missing key succeeds."""
        self._disk.delete(key)

    def write_bytes(self, key: str, data: bytes, *, content_type: str) -> HeadResult:
        """Create *key* with *data* directly (server-side; no URL involved).

        Create-only like every upload: :class:`~rindle_core.StorageConflict`
        when the key already holds an object.
        """
        _check_content_type(content_type)
        try:
            return self._disk.write(
                key, io.BytesIO(data), content_type=content_type, length=len(data)
            )
        except ObjectExists as exc:
            raise StorageConflict(str(exc)) from None
        except KeyConflict as exc:
            raise StorageError(str(exc)) from None
        except OSError as exc:
            raise StorageError(f"cannot write key {key!r} ({exc.strerror})") from None

    # -- PRESIGNED_PUT / SIGNED_GET ------------------------------------------

    def presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        """A PUT to the receiver bound to *key*, *content_type* and *content_length*."""
        _check_content_type(content_type)
        if content_length is not None and (
            isinstance(content_length, bool)
            or not isinstance(content_length, int)
            or content_length < 0
        ):
            raise InvalidArgument("content_length must be a non-negative integer or None")
        claims = self._claims("PUT", key, expires_in, content_type, content_length)
        headers = {"Content-Type": content_type}
        if content_length is not None:
            headers["Content-Length"] = str(content_length)
        return self._request(claims, headers)

    def presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None = None,
        content_type: str | None = None,
        content_disposition: str | None = None,
    ) -> PresignedRequest:
        """A GET from the receiver (``Range`` requests are honoured).

        The token binds *version* (the receiver answers 404 ``NoSuchVersion``
        once the key holds another object) and the served *content_type*
        (default: the stored type) and *content_disposition*; every download
        also carries ``X-Content-Type-Options: nosniff``.
        """
        if version is not None and (not isinstance(version, str) or not version):
            raise InvalidArgument("version must be a non-empty string or None")
        if content_type is not None:
            _check_content_type(content_type)
        if content_disposition is not None:
            _check_header_value("content_disposition", content_disposition)
        claims = attrs.evolve(
            self._claims("GET", key, expires_in),
            version=version,
            response_content_type=content_type,
            response_content_disposition=content_disposition,
        )
        return self._request(claims, {})

    def _claims(
        self,
        method: str,
        key: str,
        expires_in: int,
        content_type: str | None = None,
        content_length: int | None = None,
    ) -> _tokens.Claims:
        if self._base_url is None:
            raise ConfigurationError("local storage has no base_url: mount or serve the receiver")
        self._disk.path(key)  # validates
        if isinstance(expires_in, bool) or not isinstance(expires_in, int):
            raise InvalidArgument("expires_in must be an integer number of seconds")
        if not 1 <= expires_in <= MAX_EXPIRES_IN:
            raise InvalidArgument(f"expires_in must be between 1 and {MAX_EXPIRES_IN} seconds")
        expires = int(time.time()) + expires_in
        return _tokens.Claims(method, key, expires, content_type, content_length)

    def _request(self, claims: _tokens.Claims, headers: dict[str, str]) -> PresignedRequest:
        query = urlencode(claims.query(_tokens.sign(self._secret, claims)), quote_via=quote)
        url = f"{self._base_url}{OBJECT_PREFIX}{quote(claims.key, safe='/')}?{query}"
        return PresignedRequest(
            url=url,
            method=claims.method,
            headers=headers,
            expires_at=dt.datetime.fromtimestamp(claims.expires, dt.UTC),
        )

    # -- undeclared capabilities -----------------------------------------------

    @property
    def part_limits(self) -> PartLimits:
        """Not supported: the local backend has no multipart uploads."""
        _unsupported(Capability.MULTIPART_UPLOAD)

    def create_multipart(self, key: str, *, content_type: str) -> MultipartInit:
        """Not supported."""
        _unsupported(Capability.MULTIPART_UPLOAD)

    def presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        expires_in: int,
        content_length: int | None = None,
    ) -> PresignedRequest:
        """Not supported."""
        _unsupported(Capability.MULTIPART_UPLOAD)

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        """Not supported."""
        _unsupported(Capability.MULTIPART_UPLOAD)

    def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart], *, content_type: str
    ) -> None:
        """Not supported."""
        _unsupported(Capability.MULTIPART_UPLOAD)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Not supported."""
        _unsupported(Capability.MULTIPART_UPLOAD)

    def committed_parts(self, key: str, *, upload_id: str | None = None) -> list[UploadedPart]:
        """Not supported: local objects are written whole."""
        _unsupported(Capability.COMMITTED_PARTS)

    def create_resumable(
        self, key: str, *, content_type: str, size: int | None, origin: str | None
    ) -> ResumableInit:
        """Not supported."""
        _unsupported(Capability.RESUMABLE_UPLOAD)

    def resumable_status(self, key: str, session_uri: str) -> ResumableStatus:
        """Not supported."""
        _unsupported(Capability.RESUMABLE_STATUS)

    def cancel_resumable(self, key: str, session_uri: str) -> None:
        """Not supported."""
        _unsupported(Capability.RESUMABLE_UPLOAD)


def _unsupported(capability: Capability) -> NoReturn:
    raise NotImplementedError(f"the local storage backend does not support {capability.value}")


def _check_content_type(content_type: object) -> None:
    _check_header_value("content_type", content_type)


def _check_header_value(name: str, value: object) -> None:
    """A value the receiver can send as a header: printable ASCII, bounded."""
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_HEADER_VALUE
        or not all(0x20 <= ord(ch) < 0x7F for ch in value)
    ):
        raise InvalidArgument(
            f"{name} must be a non-empty printable ASCII string of at most "
            f"{MAX_HEADER_VALUE} characters"
        )


def _check_base_url(base_url: object) -> str | None:
    if base_url is None:
        return None
    if not isinstance(base_url, str):
        raise ConfigurationError("option 'base_url' must be a string")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError("option 'base_url' must be an http(s) URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(
            "option 'base_url' must not carry a query, fragment or credentials"
        )
    return base_url.rstrip("/")
