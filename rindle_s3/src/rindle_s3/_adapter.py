"""The S3 storage adapter: presigned PUT, multipart, head, ranged read, delete, signed GET."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast, get_args

import boto3
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from rindle_core import (
    Capability,
    ConfigurationError,
    HeadResult,
    InvalidArgument,
    InvalidParts,
    MultipartInit,
    PartLimits,
    PresignedRequest,
    StorageConflict,
    StorageError,
    StorageNotFound,
    StorageUnavailable,
    UploadedPart,
)
from rindle_core._log_redaction import install_log_redaction
from rindle_core._options import check_string
from rindle_core.storage import redact_url, utcnow

from ._config import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_READ_TIMEOUT,
    AddressingStyle,
    check_attempts,
    check_seconds,
    client_config,
    read_options,
)
from ._endpoint import BucketEndpoint, resolve_bucket_endpoint
from ._errors import error_code, http_status, s3_errors, translate
from ._signer import (
    MAX_EXPIRES,
    CredentialSource,
    SigV4Presigner,
    SnapshotCache,
    StaticCredentials,
    object_url,
)
from ._versions import is_etag, multipart_etag, object_version

__all__ = ["S3_PART_LIMITS", "AddressingStyle", "S3Storage"]

_MIB: Final = 1024 * 1024
#: The create-only condition every signed upload and every complete carries.
_CREATE_ONLY: Final = {"If-None-Match": "*"}
#: The loggers of the SDK stack that print URLs, headers or signing dumps.
_SDK_LOGGERS: Final = ("botocore", "boto3", "s3transfer", "urllib3")

#: S3's multipart limits: 5 MiB minimum (except the last part), 5 GiB
#: maximum, 10,000 parts, 5 TiB per object.
S3_PART_LIMITS: Final = PartLimits(
    min_part_size=5 * _MIB,
    max_part_size=5 * 1024 * _MIB,
    max_parts=10_000,
    max_object_size=5 * 1024 * 1024 * _MIB,
    etag_required=True,
)


class S3Storage:
    """A bucket on AWS S3 or any S3-compatible server.

    Credentials come from the standard AWS chain (environment, shared
    config/credentials files and profiles, container and instance roles)
    unless given explicitly; ``session`` lets an application share its own
    :class:`boto3.Session`. Presigned URLs are produced by
    :class:`~rindle_s3.SigV4Presigner` (identical to botocore's, much faster);
    every other call goes through boto3, with bounded waits
    (``connect_timeout``, ``read_timeout``) and ``max_attempts`` attempts.

    Uploads are create-only: a presigned PUT signs ``If-None-Match: *`` and
    ``complete_multipart`` sends it, so no signed upload replaces an object.
    ``head`` reports the object's version (its version id in a versioned
    bucket, else its ETag), which ``read_range`` and ``presign_get`` accept.
    """

    backend: str = "s3"
    #: ListParts page size (S3's maximum is 1,000).
    list_parts_page_size: int = 1000
    capabilities: frozenset[Capability] = frozenset(
        {
            Capability.PRESIGNED_PUT,
            Capability.MULTIPART_UPLOAD,
            Capability.HEAD,
            Capability.RANGE_READ,
            Capability.DELETE,
            Capability.SIGNED_GET,
        }
    )

    def __init__(
        self,
        bucket: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        addressing_style: AddressingStyle = "auto",
        session: boto3.Session | None = None,
        profile: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        _check_str("bucket", bucket, required=True)
        if bucket.startswith("arn:") or bucket.endswith("--x-s3"):
            raise ConfigurationError(
                "option 'bucket': access point ARNs and directory buckets are not supported"
            )
        for name, value in (
            ("region", region),
            ("profile", profile),
            ("aws_access_key_id", aws_access_key_id),
            ("aws_secret_access_key", aws_secret_access_key),
            ("aws_session_token", aws_session_token),
        ):
            _check_str(name, value)
        if endpoint_url is not None:
            _check_str("endpoint_url", endpoint_url)
            if not endpoint_url.startswith(("http://", "https://")):
                raise ConfigurationError("option 'endpoint_url' must be an http:// or https:// URL")
        if addressing_style not in get_args(AddressingStyle):
            raise ConfigurationError(
                "option 'addressing_style' must be one of 'auto', 'path', 'virtual'"
            )
        if (aws_access_key_id is None) != (aws_secret_access_key is None):
            raise ConfigurationError(
                "options 'aws_access_key_id' and 'aws_secret_access_key' must be given together"
            )
        if session is not None and (profile or aws_access_key_id):
            raise ConfigurationError("give either session or profile/credentials, not both")
        max_attempts = check_attempts(max_attempts)
        connect_timeout = check_seconds("connect_timeout", connect_timeout)
        read_timeout = check_seconds("read_timeout", read_timeout)

        if session is None:
            try:
                session = boto3.Session(
                    aws_access_key_id=aws_access_key_id,
                    aws_secret_access_key=aws_secret_access_key,
                    aws_session_token=aws_session_token,
                    profile_name=profile,
                )
            except ProfileNotFound:
                raise ConfigurationError(
                    f"option 'profile': AWS profile {profile!r} not found"
                ) from None
        self._bucket = bucket
        self._region = region or session.region_name or "us-east-1"
        self._endpoint_url = endpoint_url
        self._addressing_style = addressing_style
        config = client_config(
            addressing_style=addressing_style,
            max_attempts=max_attempts,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        try:
            credentials = session.get_credentials()
        except BotoCoreError as exc:  # e.g. an expired SSO token, a failing role
            raise ConfigurationError(f"cannot load AWS credentials: {type(exc).__name__}") from None
        if credentials is None:
            raise ConfigurationError(
                "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                "choose a profile, or give aws_access_key_id/aws_secret_access_key"
            )
        self._endpoint: BucketEndpoint = resolve_bucket_endpoint(
            session, bucket, region=self._region, endpoint_url=endpoint_url, config=config
        )
        try:
            self._client: Any = session.client(
                "s3", region_name=self._region, endpoint_url=endpoint_url, config=config
            )
        except (BotoCoreError, ValueError) as exc:
            raise ConfigurationError(f"cannot create the S3 client: {type(exc).__name__}") from None
        source: Any
        if type(credentials) is BotoCredentials:  # fixed: snapshot once
            frozen = credentials.get_frozen_credentials()
            if not frozen.access_key or not frozen.secret_key:
                raise ConfigurationError("the AWS credentials lack an access key or secret key")
            source = StaticCredentials(frozen.access_key, frozen.secret_key, frozen.token)
        else:  # refreshable (STS, SSO, instance roles): a snapshot at most 5 s old
            source = SnapshotCache(cast(CredentialSource, credentials.get_frozen_credentials))
        self._presigner = SigV4Presigner(
            source,
            region=self._endpoint.signing_region,
            service=self._endpoint.signing_service,
        )
        # After the client exists, so every SDK logger it uses exists too:
        # botocore prints the Authorization header and signing dumps at DEBUG.
        install_log_redaction(*_SDK_LOGGERS)

    @classmethod
    def from_options(cls, **options: Any) -> S3Storage:
        """Deprecated: use :func:`rindle_s3.create_storage` (the ``s3`` factory)."""
        warnings.warn(
            "S3Storage.from_options(**options) is deprecated: "
            "use rindle_s3.create_storage(options)",
            DeprecationWarning,
            stacklevel=2,
        )
        bucket, arguments = read_options(options)
        return cls(bucket, **arguments)

    # -- introspection -------------------------------------------------------

    @property
    def bucket(self) -> str:
        """The bucket name."""
        return self._bucket

    @property
    def region(self) -> str:
        """The configured region."""
        return self._region

    @property
    def client(self) -> Any:
        """The underlying boto3 S3 client (for operations rindle does not wrap)."""
        return self._client

    def close(self) -> None:
        """Close the boto3 client's pooled connections."""
        self._client.close()

    @property
    def presigner(self) -> SigV4Presigner:
        """The fast presigner behind the ``presign_*`` methods."""
        return self._presigner

    def object_url(self, key: str) -> str:
        """The unsigned URL of *key*."""
        return object_url(self._endpoint.base_url, key)

    def __repr__(self) -> str:
        endpoint = redact_url(self._endpoint_url) if self._endpoint_url else None
        return (
            f"S3Storage(bucket={self._bucket!r}, region={self._region!r}, "
            f"endpoint_url={endpoint!r}, addressing_style={self._addressing_style!r})"
        )

    # -- presigning (local, no I/O) -----------------------------------------

    def _presign(
        self,
        method: str,
        key: str,
        *,
        headers: Mapping[str, str],
        params: Sequence[tuple[str, str]] = (),
        expires_in: int,
    ) -> tuple[str, dt.datetime]:
        if not 1 <= expires_in <= MAX_EXPIRES:
            raise InvalidArgument(f"expires_in must be between 1 and {MAX_EXPIRES} seconds")
        now = utcnow()
        url = self._presigner.presign(
            method,
            object_url(self._endpoint.base_url, key),
            headers=headers,
            params=params,
            expires_in=expires_in,
            now=now,
        )
        return url, now + dt.timedelta(seconds=expires_in)

    def presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        """A create-only presigned PutObject.

        Binds Content-Type, Content-Length when known, and ``If-None-Match:
        *``: S3 refuses (412) to write where an object already exists, so
        the URL writes at most once. The client sends exactly ``headers``.
        """
        headers = {"Content-Type": content_type}
        if content_length is not None:
            if content_length < 0 or content_length > S3_PART_LIMITS.max_part_size:
                raise InvalidArgument("a single PUT carries 0 bytes to 5 GiB; use multipart")
            headers["Content-Length"] = str(content_length)
        headers.update(_CREATE_ONLY)
        url, expires_at = self._presign("PUT", key, headers=headers, expires_in=expires_in)
        return PresignedRequest(url=url, method="PUT", headers=headers, expires_at=expires_at)

    def presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None = None,
        content_type: str | None = None,
        content_disposition: str | None = None,
    ) -> PresignedRequest:
        """A presigned GetObject, optionally served with another type and disposition.

        *content_type* and *content_disposition* are signed as S3's
        ``response-content-type`` / ``response-content-disposition``
        overrides. A *version* that is a version id is signed as
        ``versionId``: the URL then serves that version whatever replaced
        it. An ETag version cannot be bound by a URL (a link cannot send
        ``If-Match``); create-only uploads are what keep it unchanged.
        """
        params: list[tuple[str, str]] = []  # in botocore's order, for identical URLs
        if content_disposition is not None:
            _check_header_value("content_disposition", content_disposition)
            params.append(("response-content-disposition", content_disposition))
        if content_type is not None:
            _check_header_value("content_type", content_type)
            params.append(("response-content-type", content_type))
        if version is not None and not is_etag(version):
            params.append(("versionId", version))
        url, expires_at = self._presign(
            "GET", key, headers={}, params=params, expires_in=expires_in
        )
        return PresignedRequest(url=url, method="GET", headers={}, expires_at=expires_at)

    def presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        expires_in: int,
        content_length: int | None = None,
    ) -> PresignedRequest:
        """A presigned UploadPart (part numbers 1 to 10,000)."""
        _check_part_number(part_number)
        if not upload_id:
            raise InvalidArgument("upload_id must not be empty")
        headers: dict[str, str] = {}
        if content_length is not None:
            if content_length < 0 or content_length > S3_PART_LIMITS.max_part_size:
                raise InvalidArgument("a part carries 0 bytes to 5 GiB")
            headers["Content-Length"] = str(content_length)
        url, expires_at = self._presign(
            "PUT",
            key,
            headers=headers,
            params=(("uploadId", upload_id), ("partNumber", str(part_number))),
            expires_in=expires_in,
        )
        return PresignedRequest(
            url=url,
            method="PUT",
            headers=headers,
            expires_at=expires_at,
            part_number=part_number,
            upload_id=upload_id,
        )

    # -- objects -------------------------------------------------------------

    def head(self, key: str) -> HeadResult:
        """HeadObject: size, content type, ETag and version.

        A missing object raises StorageNotFound; a missing bucket a
        StorageError (a HEAD's 404 has no body, so a one-byte GET tells
        the two apart).
        """
        try:
            response = self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if http_status(exc) != 404 or error_code(exc) == "NoSuchBucket":
                raise translate(exc, "HeadObject") from None
        except BotoCoreError as exc:
            raise translate(exc, "HeadObject") from None
        else:
            return HeadResult(
                size=int(response["ContentLength"]),
                content_type=response.get("ContentType"),
                etag=response.get("ETag"),
                version=object_version(response),
            )
        raise self._missing("HeadObject", key) from None

    def _missing(self, operation: str, key: str) -> StorageError:
        """The error for a 404 without a body: StorageNotFound, unless the bucket is missing."""
        try:
            probe = self._client.get_object(Bucket=self._bucket, Key=key, Range="bytes=0-0")
        except ClientError as exc:
            code = error_code(exc)
            if code == "NoSuchBucket":
                return StorageError(f"S3 {operation} failed: NoSuchBucket (HTTP 404)")
            if code not in ("NoSuchKey", "InvalidRange") and http_status(exc) not in (404, 416):
                return translate(exc, "GetObject")
        except BotoCoreError as exc:
            return translate(exc, "GetObject")
        else:
            probe["Body"].close()  # created since the HEAD: the HEAD's answer stands
        return StorageNotFound(f"S3 {operation} failed: NotFound (HTTP 404)")

    def read_range(self, key: str, start: int, length: int, *, version: str | None = None) -> bytes:
        """Up to *length* bytes from *start* (a ranged GetObject).

        With a *version* (from :meth:`head`), raises StorageConflict when
        the object is now another one: an ETag is sent as ``If-Match``; a
        version id is compared with the one S3 returns with the bytes.
        """
        if start < 0 or length < 0:
            raise InvalidArgument("start and length must not be negative")
        if length == 0:
            self._check_version(key, version)  # still report a missing object
            return b""
        conditions = {"IfMatch": version} if version is not None and is_etag(version) else {}
        with s3_errors("GetObject"):
            try:
                response = self._client.get_object(
                    Bucket=self._bucket,
                    Key=key,
                    Range=f"bytes={start}-{start + length - 1}",
                    **conditions,
                )
            except ClientError as exc:
                # 416: the object exists but is shorter than *start* (or empty).
                if error_code(exc) != "InvalidRange" and http_status(exc) != 416:
                    raise
                response = None
            if response is not None:
                body = response["Body"]
                try:
                    if version is not None and not conditions:
                        _same_version(response, version)
                    data: bytes = body.read()
                finally:
                    body.close()
        if response is None:
            self._check_version(key, version)
            return b""
        return data[:length]

    def _check_version(self, key: str, version: str | None) -> None:
        """HEAD *key*; raise StorageConflict if *version* is given and is not its version."""
        if self.head(key).version != version and version is not None:
            raise StorageConflict("S3 HeadObject: the object is another version than the one bound")

    def delete(self, key: str) -> None:
        """DeleteObject; a missing object counts as deleted."""
        with s3_errors("DeleteObject"):
            try:
                self._client.delete_object(Bucket=self._bucket, Key=key)
            except ClientError as exc:
                if error_code(exc) not in ("NoSuchKey", "404"):
                    raise

    # -- multipart -----------------------------------------------------------

    @property
    def part_limits(self) -> PartLimits:
        """S3's multipart limits."""
        return S3_PART_LIMITS

    def create_multipart(self, key: str, *, content_type: str) -> MultipartInit:
        """CreateMultipartUpload with the object's Content-Type."""
        with s3_errors("CreateMultipartUpload"):
            response = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=key, ContentType=content_type
            )
        return MultipartInit(upload_id=str(response["UploadId"]), part_headers={})

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        """Every uploaded part (ListParts, all pages), sorted by number."""
        parts: list[UploadedPart] = []
        marker = 0
        with s3_errors("ListParts"):
            while True:
                response = self._client.list_parts(
                    Bucket=self._bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumberMarker=marker,
                    MaxParts=self.list_parts_page_size,
                )
                parts.extend(
                    UploadedPart(
                        part_number=int(p["PartNumber"]), etag=p.get("ETag"), size=p.get("Size")
                    )
                    for p in response.get("Parts", ())
                )
                next_marker = int(response.get("NextPartNumberMarker") or 0)
                if not response.get("IsTruncated") or next_marker <= marker:
                    break
                marker = next_marker
        return sorted(parts, key=lambda part: part.part_number)

    def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart], *, content_type: str
    ) -> None:
        """Create-only CompleteMultipartUpload (``If-None-Match: *``).

        The part list is checked first (numbers 1 to 10,000, no duplicates,
        every ETag present) and sent in ascending order. An unknown or
        already-completed upload raises StorageNotFound; a part list S3
        rejects raises InvalidParts. A 200 response carrying an error body is
        a failure (botocore turns it into a retried 500); a 200 without a
        result is StorageUnavailable, so the caller retries. An object
        already at *key* raises StorageConflict and leaves the upload to
        abort, unless it is this very upload's result (a retried complete
        whose first answer was lost): its ETag is then the one these parts
        make, and the call converges. *content_type* was fixed when the
        upload was created.
        """
        manifest = _manifest(parts)
        try:
            response = self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": manifest},
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if error_code(exc) != "PreconditionFailed" and http_status(exc) != 412:
                raise translate(exc, "CompleteMultipartUpload", invalid_parts=True) from None
        except BotoCoreError as exc:
            raise translate(exc, "CompleteMultipartUpload") from None
        else:
            if not response.get("ETag"):
                raise StorageUnavailable(
                    "S3 CompleteMultipartUpload returned no result; the outcome is unknown, retry"
                )
            return
        self._converge_or_conflict(key, [str(part["ETag"]) for part in manifest])

    def _converge_or_conflict(self, key: str, part_etags: list[str]) -> None:
        """After a 412: return if *key* holds what these parts make, else raise StorageConflict."""
        conflict = StorageConflict(
            "S3 CompleteMultipartUpload failed: PreconditionFailed (HTTP 412): "
            "an object already exists at the key"
        )
        expected = multipart_etag(part_etags)
        if expected is None:
            raise conflict from None
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if http_status(exc) == 404:
                raise conflict from None
            raise translate(exc, "HeadObject") from None
        except BotoCoreError as exc:
            raise translate(exc, "HeadObject") from None
        if head.get("ETag") != expected:
            raise conflict from None

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """AbortMultipartUpload; "no such upload" counts as aborted."""
        with s3_errors("AbortMultipartUpload"):
            try:
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=key, UploadId=upload_id
                )
            except ClientError as exc:
                if error_code(exc) not in ("NoSuchUpload", "404") and http_status(exc) != 404:
                    raise

    # -- not supported on S3 -------------------------------------------------

    def committed_parts(self, key: str, *, upload_id: str | None = None) -> list[UploadedPart]:
        """Not supported: S3 keeps no part list of a completed object."""
        raise NotImplementedError("S3 does not list the parts of a completed object")

    def create_resumable(
        self, key: str, *, content_type: str, size: int | None, origin: str | None
    ) -> Any:
        """Not supported: S3 has no resumable sessions (use multipart)."""
        raise NotImplementedError("S3 has no resumable upload sessions; use multipart")

    def resumable_status(self, key: str, session_uri: str) -> Any:
        """Not supported: S3 has no resumable sessions (use multipart)."""
        raise NotImplementedError("S3 has no resumable upload sessions; use multipart")

    def cancel_resumable(self, key: str, session_uri: str) -> None:
        """Not supported: S3 has no resumable sessions (use multipart)."""
        raise NotImplementedError("S3 has no resumable upload sessions; use multipart")


def _check_str(name: str, value: object, *, required: bool = False) -> None:
    if value is None and not required:
        return
    check_string(name, value)


def _check_header_value(name: str, value: object) -> None:
    """A response-header override: a non-empty string without control characters."""
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > 1024
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    ):
        raise InvalidArgument(f"{name} must be a header value (1-1024 printable characters)")


def _same_version(response: Mapping[str, Any], version: str) -> None:
    """Raise StorageConflict unless the GetObject *response* is of *version* (a version id)."""
    if response.get("VersionId") != version:
        raise StorageConflict("S3 GetObject: the object is another version than the one bound")


def _check_part_number(number: int) -> None:
    if isinstance(number, bool) or not isinstance(number, int):
        raise InvalidArgument("part numbers are integers")
    if not 1 <= number <= S3_PART_LIMITS.max_parts:
        raise InvalidArgument(f"part number {number} is outside 1..{S3_PART_LIMITS.max_parts}")


def _manifest(parts: Sequence[UploadedPart]) -> list[dict[str, Any]]:
    """The CompleteMultipartUpload part list, validated and sorted."""
    if not parts:
        raise InvalidParts("a multipart upload needs at least one part")
    seen: set[int] = set()
    for part in parts:
        try:
            _check_part_number(part.part_number)
        except InvalidArgument as exc:
            raise InvalidParts(str(exc)) from None
        if part.part_number in seen:
            raise InvalidParts(f"part number {part.part_number} is listed twice")
        if not part.etag:
            raise InvalidParts(f"part {part.part_number} has no ETag")
        seen.add(part.part_number)
    ordered = sorted(parts, key=lambda part: part.part_number)
    return [{"PartNumber": p.part_number, "ETag": cast(str, p.etag)} for p in ordered]
