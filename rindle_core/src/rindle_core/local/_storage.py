"""The ``local`` storage adapter: objects on disk, uploads (whole or in parts) via the receiver."""

from __future__ import annotations

import datetime as dt
import io
import os
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Final
from urllib.parse import quote, urlencode, urlsplit

import attrs

from rindle_core._errors import (
    ConfigurationError,
    StorageConflict,
    StorageError,
    UploadUnsupported,
)
from rindle_core.adapters import (
    BaseMultipartStorage,
    BasePostPolicyStorage,
    check_header,
    check_key,
)
from rindle_core.storage import (
    Capability,
    HeadResult,
    MultipartUpload,
    PartChecksum,
    PartLimits,
    PresignedPost,
    PresignedRequest,
    UploadedPart,
)

from . import _tokens
from ._disk import Disk, KeyConflict, ObjectExists, load_secret
from ._receiver import DEFAULT_MAX_BODY, OBJECT_PREFIX, UploadReceiver
from ._staging import PART_LIMITS, Staging

__all__ = ["LocalStorage"]

#: What an adapter without ``base_url`` cannot do: nothing could serve its URLs.
_SIGNING: Final = frozenset(
    {
        Capability.PRESIGNED_PUT,
        Capability.SIGNED_GET,
        Capability.MULTIPART_UPLOAD,
        Capability.PRESIGNED_POST,
    }
)


class LocalStorage(BaseMultipartStorage, BasePostPolicyStorage):
    """Objects on disk under *root*; presigned URLs point at an :class:`UploadReceiver`.

    ``base_url`` is where the receiver is reachable (mounted in the host app
    or run by :func:`serve_receiver`); without it the adapter can still head,
    read and delete, but withholds ``presigned_put``, ``signed_get``,
    ``multipart_upload`` and ``presigned_post`` (signing raises
    :class:`~rindle_core.UploadUnsupported`). ``secret``
    signs the URLs; when omitted it is read from ``root/.rindle-secret``,
    which is created (mode 0600) if absent, so every process sharing the root
    shares the secret.

    The root is created here if missing; if it disappears later, every call
    raises :class:`~rindle_core.StorageError` (never ``StorageNotFound``).
    Uploads are create-only: a signed PUT to a key that holds an object is
    refused (412) and writes nothing.

    Multipart uploads stage their parts under ``root/.rindle-multipart/``
    and are assembled on completion without holding the file in memory;
    :attr:`part_limits` are S3's (5 MiB minimum but for the last part, 5 GiB
    maximum, 10,000 parts). A form POST (:meth:`presign_post`) is
    create-only too, and streamed to disk like a PUT.
    """

    backend = "local"
    #: The largest form POST: the receiver's default ``max_body`` (S3's POST limit).
    max_post_size = DEFAULT_MAX_BODY

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
        self._staging = Staging(self._disk)
        if self._base_url is None:
            self.withheld = _SIGNING

    @property
    def root(self) -> Path:
        """The resolved root directory."""
        return self._disk.root

    @property
    def base_url(self) -> str | None:
        """Where the receiver is reachable, or ``None``."""
        return self._base_url

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

    def write_bytes(self, key: str, data: bytes, *, content_type: str) -> HeadResult:
        """Create *key* with *data* directly (server-side; no URL involved).

        Create-only like every upload: :class:`~rindle_core.StorageConflict`
        when the key already holds an object.
        """
        check_key(key)
        check_header("content_type", content_type)
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

    # -- hooks: BaseStorage has checked every argument (the disk checks the key's path) --

    def _head(self, key: str) -> HeadResult:
        return self._disk.head(key)

    def _read_range(self, key: str, start: int, length: int, *, version: str | None) -> bytes:
        # A start at or past the end reads b"" (after the version check): no
        # RangeNotSatisfiable needed.
        return self._disk.read_range(key, start, length, version=version)

    def _delete(self, key: str) -> None:
        self._disk.delete(key)

    def _presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        """A PUT to the receiver bound to *key*, *content_type* and *content_length*."""
        claims = self._claims("PUT", key, expires_in, content_type, content_length)
        headers = {"Content-Type": content_type}
        if content_length is not None:
            headers["Content-Length"] = str(content_length)
        return self._request(claims, headers)

    def _presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None,
        content_type: str | None,
        content_disposition: str | None,
    ) -> PresignedRequest:
        """A GET from the receiver (``Range`` requests are honoured).

        The token binds *version* (the receiver answers 404 ``NoSuchVersion``
        once the key holds another object) and the served *content_type*
        (default: the stored type) and *content_disposition*; every download
        also carries ``X-Content-Type-Options: nosniff``.
        """
        claims = attrs.evolve(
            self._claims("GET", key, expires_in),
            version=version,
            response_content_type=content_type,
            response_content_disposition=content_disposition,
        )
        return self._request(claims, {})

    # -- multipart hooks ----------------------------------------------------------

    @property
    def part_limits(self) -> PartLimits:
        """S3's limits: parts of 5 MiB (the last may be smaller) to 5 GiB, at most 10,000."""
        return PART_LIMITS

    def _create_multipart(
        self, key: str, *, content_type: str, checksum_algorithm: str | None = None
    ) -> MultipartUpload:
        """A staging directory for *key*; the object will be served as *content_type*.
        With *checksum_algorithm*, the receiver verifies each part's bound checksum."""
        return MultipartUpload(
            upload_id=self._staging.create(key, content_type, checksum_algorithm)
        )

    def _presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        expires_in: int,
        content_length: int | None,
        checksum: PartChecksum | None = None,
    ) -> PresignedRequest:
        """A PUT of one part to the receiver, bound to the upload and number (and
        length, and checksum).

        StorageNotFound unless *upload_id* is an open upload of *key*.
        """
        self._staging.manifest(key, upload_id)
        claims = attrs.evolve(
            self._claims("PUT", key, expires_in, content_length=content_length),
            upload_id=upload_id,
            part_number=part_number,
            checksum=None if checksum is None else checksum.value,
        )
        headers = {} if content_length is None else {"Content-Length": str(content_length)}
        request = self._request(claims, headers)
        return attrs.evolve(request, part_number=part_number, upload_id=upload_id)

    def _list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        return self._staging.list_parts(key, upload_id)

    def _complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart], *, content_type: str
    ) -> None:
        """Assemble the parts into *key*; it is served with the type given at creation."""
        self._staging.complete(key, upload_id, parts)

    def _abort_multipart(self, key: str, upload_id: str) -> None:
        self._staging.abort(key, upload_id)

    # -- form POST hook -----------------------------------------------------------

    def _presign_post(
        self, key: str, *, content_type: str, min_size: int, max_size: int, expires_in: int
    ) -> PresignedPost:
        """A form POST to the receiver; its fields bind *key*, *content_type* and the size range."""
        claims = attrs.evolve(
            self._claims("POST", key, expires_in, content_type),
            min_size=min_size,
            max_size=max_size,
        )
        if self._base_url is None:  # withheld: the public method refused already
            raise UploadUnsupported(Capability.PRESIGNED_POST, storage=self.backend)
        return PresignedPost(
            url=f"{self._base_url}{OBJECT_PREFIX}{quote(key, safe='/')}",
            fields=_tokens.form_fields(claims, _tokens.sign(self._secret, claims)),
            expires_at=dt.datetime.fromtimestamp(claims.expires, dt.UTC),
            create_only=True,
        )

    # -- signing --------------------------------------------------------------------

    def _claims(
        self,
        method: str,
        key: str,
        expires_in: int,
        content_type: str | None = None,
        content_length: int | None = None,
    ) -> _tokens.Claims:
        self._disk.path(key)  # the local rules: safe segments, inside the root
        expires = int(time.time()) + expires_in
        return _tokens.Claims(method, key, expires, content_type, content_length)

    def _request(self, claims: _tokens.Claims, headers: dict[str, str]) -> PresignedRequest:
        if self._base_url is None:  # withheld: the public methods refused already
            signs = Capability.PRESIGNED_PUT if claims.method == "PUT" else Capability.SIGNED_GET
            raise UploadUnsupported(signs, storage=self.backend)
        query = urlencode(claims.query(_tokens.sign(self._secret, claims)), quote_via=quote)
        url = f"{self._base_url}{OBJECT_PREFIX}{quote(claims.key, safe='/')}?{query}"
        return PresignedRequest(
            url=url,
            method=claims.method,
            headers=headers,
            expires_at=dt.datetime.fromtimestamp(claims.expires, dt.UTC),
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
