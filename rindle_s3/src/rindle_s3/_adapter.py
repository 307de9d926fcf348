"""The S3 storage adapter: presigned PUT and POST, multipart, head, ranged read, delete,
signed GET."""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final, get_args

import attrs

from rindle_core import (
    ConfigurationError,
    HeadResult,
    MultipartUpload,
    PartLimits,
    PresignedPost,
    PresignedRequest,
    StorageConflict,
    StorageError,
    StorageNotFound,
    StorageUnavailable,
    UploadedPart,
)
from rindle_core.adapters import (
    BaseMultipartStorage,
    BasePostPolicyStorage,
    RangeNotSatisfiable,
    install_redaction,
    redact_url,
    utcnow,
)
from rindle_core.plugins import check_string
from rindle_core.storage import PartChecksum

from ._client import CompletedPart, GetObjectOutput, ListedPart, S3Client
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
from ._fast_start import fast_start
from ._post_policy import SigV4PostSigner, post_url
from ._signer import (
    MAX_EXPIRES,
    CredentialSource,
    FrozenCredentials,
    SigV4Presigner,
    SnapshotCache,
    StaticCredentials,
    object_url,
)
from ._versions import is_etag, multipart_etag, object_version

if TYPE_CHECKING:  # boto3 and botocore load with the first API client (ADR 0119)
    import boto3
    from botocore.config import Config

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
    checksum_algorithms=frozenset({"crc32"}),
)

#: S3's names of each part checksum rindle binds: the algorithm and the part
#: header the signature binds (ListParts and CompleteMultipartUpload call
#: the value ``ChecksumCRC32``).
_S3_CHECKSUMS: Final = {"crc32": ("CRC32", "x-amz-checksum-crc32")}

#: The least read timeout of CompleteMultipartUpload: S3 may take minutes to
#: assemble a large object (an S3-compatible server may send nothing until it
#: is done), and botocore re-sends a request whose answer timed out, which
#: only doubles the server's work (ADR 0119).
COMPLETE_READ_TIMEOUT: Final = 60.0


class S3Storage(BaseMultipartStorage, BasePostPolicyStorage):
    """A bucket on AWS S3 or any S3-compatible server.

    Credentials come from the standard AWS chain (environment, shared
    config/credentials files and profiles, container and instance roles)
    unless given explicitly; ``session`` lets an application share its own
    :class:`boto3.Session`. Presigned URLs are produced by
    :class:`~rindle_s3.SigV4Presigner` (identical to botocore's, much faster);
    every other call goes through boto3, with bounded waits
    (``connect_timeout``, ``read_timeout``) and ``max_attempts`` attempts.
    boto3 loads with the first such call when the configuration is the plain
    explicit one (``addressing_style="path"``, ``endpoint_url`` and
    ``region`` given, credentials given or in ``AWS_ACCESS_KEY_ID`` /
    ``AWS_SECRET_ACCESS_KEY``): building the adapter and presigning then
    compute botocore's answers without it (ADR 0119).

    Uploads are create-only: a presigned PUT signs ``If-None-Match: *`` and
    ``complete_multipart`` sends it, so no signed upload replaces an object.
    The exception is the form POST (``presign_post``): S3 has no condition
    for it, so a policy can replace the object until it expires, and the
    broker promotes only after that (ADR 0103).
    ``head`` reports the object's version (its version id in a versioned
    bucket, else its ETag), which ``read_range`` and ``presign_get`` accept.
    S3 has no resumable sessions and keeps no part list of a completed
    object, so the adapter implements neither.
    """

    backend: str = "s3"
    #: SigV4 presigned URLs live at most seven days.
    max_expires_in: ClassVar[int] = MAX_EXPIRES
    #: A single PutObject carries at most 5 GiB.
    max_put_size: ClassVar[int | None] = S3_PART_LIMITS.max_part_size
    #: A POST Object carries at most 5 GiB too.
    max_post_size: ClassVar[int] = S3_PART_LIMITS.max_part_size
    #: ListParts page size (S3's maximum is 1,000).
    list_parts_page_size: int = 1000

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
        part_checksums: bool | None = None,
    ) -> None:
        _check_str("bucket", bucket, required=True)
        if part_checksums is not None and not isinstance(part_checksums, bool):
            raise ConfigurationError("option 'part_checksums' must be true or false")
        # CRC32 part checksums (ADR 0135): on AWS by default; S3-compatible
        # stores differ in their support, so there they are chosen explicitly.
        self._part_limits = (
            S3_PART_LIMITS
            if (endpoint_url is None if part_checksums is None else part_checksums)
            else attrs.evolve(S3_PART_LIMITS, checksum_algorithms=frozenset())
        )
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

        self._bucket = bucket
        self._endpoint_url = endpoint_url
        self._addressing_style = addressing_style
        self._max_attempts = max_attempts
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        # On the fast start botocore is not loaded until the first API call:
        # its loggers exist from then on, and _new_client covers them too.
        install_redaction(*_SDK_LOGGERS)
        fast = None
        if session is None:
            fast = fast_start(
                bucket,
                region=region,
                endpoint_url=endpoint_url,
                addressing_style=addressing_style,
                profile=profile,
                aws_access_key_id=aws_access_key_id,
                aws_secret_access_key=aws_secret_access_key,
                aws_session_token=aws_session_token,
            )
        source: FrozenCredentials | CredentialSource
        if fast is not None:
            # botocore's answers without botocore (see _fast_start): the session
            # is built with the first API client, from these very credentials.
            self._region = fast.region
            self._endpoint: BucketEndpoint = fast.endpoint
            self._session: boto3.Session | None = None
            self._session_credentials: StaticCredentials | None = fast.credentials
            source = fast.credentials
        else:
            self._session, self._region, self._endpoint, source = self._start_with_botocore(
                session,
                profile=profile,
                aws_access_key_id=aws_access_key_id,
                aws_secret_access_key=aws_secret_access_key,
                aws_session_token=aws_session_token,
                region=region,
            )
            self._session_credentials = None
        # The API clients are built on first use (ADR 0119): presigning needs none.
        self._api: S3Client | None = None
        # CompleteMultipartUpload's client (read timeout >= COMPLETE_READ_TIMEOUT).
        self._completer: S3Client | None = None
        self._clients_lock = threading.Lock()
        self._presigner = SigV4Presigner(
            source,
            region=self._endpoint.signing_region,
            service=self._endpoint.signing_service,
        )
        self._post_signer = SigV4PostSigner(
            source,
            region=self._endpoint.signing_region,
            service=self._endpoint.signing_service,
        )

    def _start_with_botocore(
        self,
        session: boto3.Session | None,
        *,
        profile: str | None,
        aws_access_key_id: str | None,
        aws_secret_access_key: str | None,
        aws_session_token: str | None,
        region: str | None,
    ) -> tuple[boto3.Session, str, BucketEndpoint, FrozenCredentials | CredentialSource]:
        """The session, region, endpoint and credentials, as botocore resolves them.

        Loads boto3 and botocore's S3 model (the endpoint probe builds a
        client): every configuration the fast start does not cover.
        """
        from botocore.credentials import Credentials as BotoCredentials
        from botocore.exceptions import BotoCoreError, ProfileNotFound

        if session is None:
            try:
                session = _new_session(
                    aws_access_key_id=aws_access_key_id,
                    aws_secret_access_key=aws_secret_access_key,
                    aws_session_token=aws_session_token,
                    profile_name=profile,
                )
            except ProfileNotFound:
                raise ConfigurationError(
                    f"option 'profile': AWS profile {profile!r} not found"
                ) from None
        region = region or session.region_name or "us-east-1"
        try:
            credentials = session.get_credentials()
        except BotoCoreError as exc:  # e.g. an expired SSO token, a failing role
            raise ConfigurationError(f"cannot load AWS credentials: {type(exc).__name__}") from None
        if credentials is None:
            raise ConfigurationError(
                "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                "choose a profile, or give aws_access_key_id/aws_secret_access_key"
            )
        endpoint = resolve_bucket_endpoint(
            session,
            self._bucket,
            region=region,
            endpoint_url=self._endpoint_url,
            config=self._client_config(self._read_timeout),
        )
        # After the probe client exists, so every SDK logger it uses exists too:
        # botocore prints the Authorization header and signing dumps at DEBUG.
        install_redaction(*_SDK_LOGGERS)
        source: FrozenCredentials | CredentialSource
        if type(credentials) is BotoCredentials:  # fixed: snapshot once
            frozen = credentials.get_frozen_credentials()
            if not frozen.access_key or not frozen.secret_key:
                raise ConfigurationError("the AWS credentials lack an access key or secret key")
            source = StaticCredentials(frozen.access_key, frozen.secret_key, frozen.token)
        else:  # refreshable (STS, SSO, instance roles): a snapshot at most 5 s old
            source = SnapshotCache(credentials.get_frozen_credentials)
        return session, region, endpoint, source

    @classmethod
    def from_options(cls, **options: object) -> S3Storage:
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
    def client(self) -> Any:  # boto3 builds its clients at run time: no static type
        """The underlying boto3 S3 client (for operations rindle does not wrap)."""
        return self._client

    def close(self) -> None:
        """Close the boto3 clients' pooled connections (those built so far)."""
        with self._clients_lock:
            clients = {id(c): c for c in (self._api, self._completer) if c is not None}
        for client in clients.values():
            client.close()

    @property
    def _client(self) -> S3Client:
        """The boto3 client of every API call but CompleteMultipartUpload (built once)."""
        client = self._api
        if client is None:
            with self._clients_lock:
                if self._api is None:
                    self._api = self._new_client(self._read_timeout)
                client = self._api
        return client

    def _complete_client(self) -> S3Client:
        """The client for CompleteMultipartUpload: read timeout at least COMPLETE_READ_TIMEOUT."""
        if self._read_timeout >= COMPLETE_READ_TIMEOUT:
            return self._client
        with self._clients_lock:
            if self._completer is None:
                self._completer = self._new_client(COMPLETE_READ_TIMEOUT)
            return self._completer

    def _new_client(self, read_timeout: float) -> S3Client:
        """A boto3 client with the adapter's options and *read_timeout* (under the lock).

        On the fast start the first one loads boto3 and builds the session,
        with the credentials the presigner signs with.
        """
        session = self._session
        if session is None:
            credentials = self._session_credentials
            assert credentials is not None  # the fast start keeps them for this
            session = self._session = _new_session(
                aws_access_key_id=credentials.access_key,
                aws_secret_access_key=credentials.secret_key,
                aws_session_token=credentials.token,
            )
        client: S3Client = session.client(
            "s3",
            region_name=self._region,
            endpoint_url=self._endpoint_url,
            config=self._client_config(read_timeout),
        )
        # The loggers of the modules the client loaded (see _start_with_botocore).
        install_redaction(*_SDK_LOGGERS)
        return client

    def _client_config(self, read_timeout: float) -> Config:
        """The botocore configuration of the adapter's clients (built per client)."""
        return client_config(
            addressing_style=self._addressing_style,
            max_attempts=self._max_attempts,
            connect_timeout=self._connect_timeout,
            read_timeout=read_timeout,
        )

    @property
    def presigner(self) -> SigV4Presigner:
        """The fast presigner behind the ``presign_*`` methods."""
        return self._presigner

    @property
    def part_limits(self) -> PartLimits:
        """S3's multipart limits; CRC32 part checksums where ``part_checksums`` is on."""
        return self._part_limits

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

    def _presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        """A create-only presigned PutObject.

        Binds Content-Type, Content-Length when known, and ``If-None-Match:
        *``: S3 refuses (412) to write where an object already exists, so
        the URL writes at most once. The client sends exactly ``headers``.
        """
        headers = {"Content-Type": content_type}
        if content_length is not None:
            headers["Content-Length"] = str(content_length)
        headers.update(_CREATE_ONLY)
        url, expires_at = self._presign("PUT", key, headers=headers, expires_in=expires_in)
        return PresignedRequest(url=url, method="PUT", headers=headers, expires_at=expires_at)

    def _presign_post(
        self, key: str, *, content_type: str, min_size: int, max_size: int, expires_in: int
    ) -> PresignedPost:
        """A POST Object policy binding the key, Content-Type and size range.

        The same fields botocore's ``generate_presigned_post`` makes. Not
        create-only: S3's POST has no ``If-None-Match`` (``create_only`` is
        False).
        """
        return self._post_signer.sign(
            post_url(self._endpoint.base_url),
            bucket=self._bucket,
            key=key,
            content_type=content_type,
            min_size=min_size,
            max_size=max_size,
            expires_in=expires_in,
            now=utcnow(),
        )

    def _presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None,
        content_type: str | None,
        content_disposition: str | None,
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
            params.append(("response-content-disposition", content_disposition))
        if content_type is not None:
            params.append(("response-content-type", content_type))
        if version is not None and not is_etag(version):
            params.append(("versionId", version))
        url, expires_at = self._presign(
            "GET", key, headers={}, params=params, expires_in=expires_in
        )
        return PresignedRequest(url=url, method="GET", headers={}, expires_at=expires_at)

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
        """A presigned UploadPart, binding Content-Length and the part's checksum when given."""
        headers: dict[str, str] = {}
        if content_length is not None:
            headers["Content-Length"] = str(content_length)
        if checksum is not None:
            headers[_S3_CHECKSUMS[checksum.algorithm][1]] = checksum.value
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

    def _head(self, key: str) -> HeadResult:
        """HeadObject: size, content type, ETag and version.

        A missing object raises StorageNotFound; a missing bucket a
        StorageError (a HEAD's 404 has no body, so a one-byte GET tells
        the two apart).
        """
        from botocore.exceptions import BotoCoreError, ClientError  # loaded with the client

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
        from botocore.exceptions import BotoCoreError, ClientError  # loaded with the client

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

    def _read_range(self, key: str, start: int, length: int, *, version: str | None) -> bytes:
        """A ranged GetObject; RangeNotSatisfiable on S3's 416 (*start* at or past the end).

        With a *version* (from :meth:`head`), raises StorageConflict when
        the object is now another one: an ETag is sent as ``If-Match``; a
        version id is compared with the one S3 returns with the bytes.
        """
        from botocore.exceptions import ClientError  # loaded with the client

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
                if error_code(exc) == "InvalidRange" or http_status(exc) == 416:
                    raise RangeNotSatisfiable from None
                raise
            body = response["Body"]
            try:
                status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 200 and start > 0:
                    # The server ignored Range: the body is the whole object.
                    # Refused unread (closing drops the connection, not the bytes).
                    raise StorageError("S3 GetObject failed: the server ignored the Range header")
                if version is not None and not conditions:
                    _same_version(response, version)
                # Never more than the range, even from a server that sent it all.
                data: bytes = body.read(length)
                return data
            finally:
                body.close()

    def _delete(self, key: str) -> None:
        """DeleteObject (a missing key is StorageNotFound, which the base ignores)."""
        with s3_errors("DeleteObject"):
            self._client.delete_object(Bucket=self._bucket, Key=key)

    # -- multipart -----------------------------------------------------------

    def _create_multipart(
        self, key: str, *, content_type: str, checksum_algorithm: str | None = None
    ) -> MultipartUpload:
        """CreateMultipartUpload with the object's Content-Type (and the parts'
        checksum algorithm: S3 then refuses a part without its checksum)."""
        algorithm = {} if checksum_algorithm is None else {
            "ChecksumAlgorithm": _S3_CHECKSUMS[checksum_algorithm][0]
        }  # fmt: skip
        with s3_errors("CreateMultipartUpload"):
            response = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=key, ContentType=content_type, **algorithm
            )
        return MultipartUpload(upload_id=str(response["UploadId"]))

    def _list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        """Every uploaded part (ListParts, all pages)."""
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
                        part_number=int(p["PartNumber"]),
                        etag=p.get("ETag"),
                        size=p.get("Size"),
                        checksum=_listed_checksum(p),
                    )
                    for p in response.get("Parts", ())
                )
                next_marker = int(response.get("NextPartNumberMarker") or 0)
                if not response.get("IsTruncated") or next_marker <= marker:
                    break
                marker = next_marker
        return parts

    def _complete_multipart(
        self, key: str, upload_id: str, parts: list[UploadedPart], *, content_type: str
    ) -> None:
        """Create-only CompleteMultipartUpload (``If-None-Match: *``).

        *parts* come checked and in ascending order. An unknown or
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
        from botocore.exceptions import BotoCoreError, ClientError  # loaded with the client

        # The base checked every ETag (S3_PART_LIMITS.etag_required).
        manifest = [_completed_part(p) for p in parts]
        try:
            response = self._complete_client().complete_multipart_upload(
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
        self._converge_or_conflict(key, [part["ETag"] for part in manifest])

    def _converge_or_conflict(self, key: str, part_etags: list[str]) -> None:
        """After a 412: return if *key* holds what these parts make, else raise StorageConflict."""
        from botocore.exceptions import BotoCoreError, ClientError  # loaded with the client

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

    def _abort_multipart(self, key: str, upload_id: str) -> None:
        """AbortMultipartUpload (``NoSuchUpload`` is StorageNotFound, which the base ignores)."""
        with s3_errors("AbortMultipartUpload"):
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)


def _listed_checksum(part: ListedPart) -> PartChecksum | None:
    """The checksum ListParts reports for a part (S3 reports it where the upload binds one)."""
    value = part.get("ChecksumCRC32")
    return None if value is None else PartChecksum("crc32", value)


def _completed_part(part: UploadedPart) -> CompletedPart:
    """One entry of CompleteMultipartUpload's list, with the part's checksum if it has one."""
    entry = CompletedPart(PartNumber=part.part_number, ETag=part.etag or "")
    if part.checksum is not None:
        entry["ChecksumCRC32"] = part.checksum.value
    return entry


def _new_session(**arguments: str | None) -> boto3.Session:
    """A boto3 session (importing boto3, then covering the SDK's loggers with redaction)."""
    import boto3

    install_redaction(*_SDK_LOGGERS)
    return boto3.Session(**arguments)


def _check_str(name: str, value: object, *, required: bool = False) -> None:
    if value is None and not required:
        return
    check_string(name, value)


def _same_version(response: GetObjectOutput, version: str) -> None:
    """Raise StorageConflict unless the GetObject *response* is of *version* (a version id)."""
    if response.get("VersionId") != version:
        raise StorageConflict("S3 GetObject: the object is another version than the one bound")
