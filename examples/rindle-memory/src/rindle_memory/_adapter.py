"""The ``memory`` storage adapter: a client of a :class:`~rindle_memory.MemoryServer`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Final

import httpx
from rindle_core import (
    InvalidArgument,
    InvalidParts,
    RindleError,
    StorageConflict,
    StorageError,
    StorageNotFound,
    StorageUnavailable,
)
from rindle_core.adapters import (
    BaseMultipartStorage,
    RangeNotSatisfiable,
    describe_http_error,
    expiry,
    install_redaction,
    map_exceptions,
    utcnow,
)
from rindle_core.storage import (
    Capability,
    HeadResult,
    MultipartUpload,
    PartLimits,
    PresignedRequest,
    UploadedPart,
)

from ._server import ERROR_HEADER, VERSION_HEADER
from ._signing import object_path, sign_url
from ._store import PART_LIMITS

__all__ = ["MemoryStorage"]

# --8<-- [start:redaction]
# httpx logs each request's URL at INFO: with the query, that is a signature.
install_redaction("httpx", "httpcore")
# --8<-- [end:redaction]

#: How long the URLs the adapter signs for its own calls live.
CALL_EXPIRES_IN: Final = 60
# --8<-- [start:errors]
#: The server's error codes that mean something to rindle; any other is a StorageError.
ERRORS: Final[Mapping[str, type[RindleError]]] = {
    "NoSuchKey": StorageNotFound,
    "NoSuchUpload": StorageNotFound,
    "NoSuchVersion": StorageConflict,  # a read bound to a version that is gone
    "PreconditionFailed": StorageConflict,  # create-only: the key holds an object
    "InvalidPart": InvalidParts,  # complete: a part missing, or with another ETag
    "EntityTooSmall": InvalidParts,  # complete: a part before the last is too small
}
# --8<-- [end:errors]


# --8<-- [start:class]
class MemoryStorage(BaseMultipartStorage):
    """Objects in a :class:`~rindle_memory.MemoryServer`'s *bucket* at *endpoint_url*.

    *secret* is the server's signing secret. With ``multipart=False`` the
    adapter withholds multipart uploads, as a backend without them would.
    """

    backend = "memory"
    max_put_size = PART_LIMITS.max_part_size

    def __init__(
        self,
        endpoint_url: str,
        bucket: str,
        *,
        secret: str,
        multipart: bool = True,
        timeout: float = 10.0,
    ) -> None:
        self._endpoint_url = endpoint_url.rstrip("/")
        self._bucket = bucket
        self._secret = secret.encode()
        self._http = httpx.Client(timeout=timeout)
        if not multipart:
            self.withheld = frozenset({Capability.MULTIPART_UPLOAD})

    def __repr__(self) -> str:  # never the secret
        return f"MemoryStorage(endpoint_url={self._endpoint_url!r}, bucket={self._bucket!r})"

    def close(self) -> None:
        """Close the HTTP connections. Idempotent."""
        self._http.close()

    # --8<-- [end:class]
    # --8<-- [start:base-hooks]
    def _head(self, key: str) -> HeadResult:
        response = self._call("HEAD", key)
        return HeadResult(
            size=int(response.headers["Content-Length"]),
            content_type=response.headers.get("Content-Type"),
            etag=response.headers.get("ETag"),
            version=response.headers.get(VERSION_HEADER),
        )

    def _read_range(self, key: str, start: int, length: int, *, version: str | None) -> bytes:
        response = self._call(
            "GET",
            key,
            {"version": version} if version is not None else {},
            headers={"Range": f"bytes={start}-{start + length - 1}"},
            ok=(200, 206, 416),
        )
        if response.status_code == 416:
            raise RangeNotSatisfiable
        return response.content

    def _delete(self, key: str) -> None:
        self._call("DELETE", key, ok=(204,))

    def _presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        bound = {"content-type": content_type}
        headers = {"Content-Type": content_type}
        if content_length is not None:
            bound["content-length"] = headers["Content-Length"] = str(content_length)
        return self._presigned("PUT", key, bound, headers, expires_in)

    def _presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None,
        content_type: str | None,
        content_disposition: str | None,
    ) -> PresignedRequest:
        bound = {
            name: value
            for name, value in (
                ("version", version),
                ("response-content-type", content_type),
                ("response-content-disposition", content_disposition),
            )
            if value is not None
        }
        return self._presigned("GET", key, bound, {}, expires_in)

    # --8<-- [end:base-hooks]
    # --8<-- [start:multipart-hooks]
    @property
    def part_limits(self) -> PartLimits:
        """The server's limits: parts of 5 to 64 MiB (the last may be smaller)."""
        return PART_LIMITS

    def _create_multipart(self, key: str, *, content_type: str) -> MultipartUpload:
        response = self._call("POST", key, {"op": "uploads", "content-type": content_type})
        return MultipartUpload(upload_id=response.text)

    def _presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        expires_in: int,
        content_length: int | None,
    ) -> PresignedRequest:
        bound = {"upload-id": upload_id, "part-number": str(part_number)}
        headers: dict[str, str] = {}
        if content_length is not None:
            bound["content-length"] = headers["Content-Length"] = str(content_length)
        return self._presigned(
            "PUT", key, bound, headers, expires_in, part_number=part_number, upload_id=upload_id
        )

    def _list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        response = self._call("GET", key, {"upload-id": upload_id})
        return [
            UploadedPart(int(number), etag, int(size))
            for number, etag, size in (line.split(" ") for line in response.text.splitlines())
        ]

    def _complete_multipart(
        self, key: str, upload_id: str, parts: list[UploadedPart], *, content_type: str
    ) -> None:
        body = "".join(f"{part.part_number} {part.etag}\n" for part in parts)
        self._call("POST", key, {"op": "complete", "upload-id": upload_id}, body=body.encode())

    def _abort_multipart(self, key: str, upload_id: str) -> None:
        self._call("DELETE", key, {"upload-id": upload_id}, ok=(204,))

    # --8<-- [end:multipart-hooks]
    # --8<-- [start:signing]
    def _url(self, method: str, key: str, bound: Mapping[str, str], expires_at: dt.datetime) -> str:
        if any(segment in (".", "..") for segment in key.split("/")):
            # HTTP clients collapse dot segments, which would break the signature.
            raise InvalidArgument("a memory storage key has no '.' or '..' segment")
        path = object_path(self._bucket, key)
        expires = int(expires_at.timestamp())
        return sign_url(self._secret, method, self._endpoint_url, path, bound, expires=expires)

    def _presigned(
        self,
        method: str,
        key: str,
        bound: Mapping[str, str],
        headers: Mapping[str, str],
        expires_in: int,
        *,
        part_number: int | None = None,
        upload_id: str | None = None,
    ) -> PresignedRequest:
        expires_at = expiry(utcnow().replace(microsecond=0), expires_in)
        return PresignedRequest(
            url=self._url(method, key, bound, expires_at),
            method=method,
            headers=headers,
            expires_at=expires_at,
            part_number=part_number,
            upload_id=upload_id,
        )

    # --8<-- [end:signing]
    # --8<-- [start:calls]
    def _call(
        self,
        method: str,
        key: str,
        bound: Mapping[str, str] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """Send the adapter's own request as a short-lived signed URL."""
        url = self._url(method, key, bound or {}, expiry(utcnow(), CALL_EXPIRES_IN))
        with map_exceptions(
            {httpx.HTTPError: StorageError},
            is_transient=lambda exc: isinstance(exc, httpx.TransportError),
        ):
            response = self._http.request(method, url, headers=headers, content=body)
        if response.status_code not in ok:
            raise self._error(method, response)
        return response

    def _error(self, method: str, response: httpx.Response) -> RindleError:
        code = response.headers.get(ERROR_HEADER)
        message = f"memory {method}: {describe_http_error(response.status_code, code)}"
        known = ERRORS.get(code or "")
        if known is not None:
            return known(message)
        if response.status_code >= 500 or response.status_code == 429:
            return StorageUnavailable(message)
        return StorageError(message)  # NoSuchBucket, AccessDenied: configuration

    # --8<-- [end:calls]
