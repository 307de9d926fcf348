"""The part of boto3's S3 client the adapter calls, with the shapes it relies on.

boto3 builds its clients at run time and ships no types; this protocol names
the seven operations :class:`~rindle_s3.S3Storage` uses, with the request
parameters it sends and the response fields it reads, so the adapter is
type-checked against them. The S3 wire names (``PartNumber``, ``ETag``…)
stay here and in the adapter.
"""

from __future__ import annotations

from typing import Protocol, Required, TypedDict

__all__ = [
    "CompleteMultipartUploadOutput",
    "CompletedMultipartUpload",
    "CompletedPart",
    "CreateMultipartUploadOutput",
    "GetObjectOutput",
    "HeadObjectOutput",
    "ListPartsOutput",
    "ListedPart",
    "S3Client",
    "StreamingBody",
]


class StreamingBody(Protocol):
    """A GetObject response body (botocore's ``StreamingBody``)."""

    def read(self, amt: int | None = None) -> bytes: ...

    def close(self) -> None: ...


class HeadObjectOutput(TypedDict, total=False):
    """The HeadObject fields the adapter reads."""

    ContentLength: Required[int]
    ContentType: str
    ETag: str
    VersionId: str


class ResponseMetadata(TypedDict, total=False):
    """botocore's record of the HTTP answer (the status tells 200 from 206)."""

    HTTPStatusCode: int


class GetObjectOutput(TypedDict, total=False):
    """The GetObject fields the adapter reads."""

    Body: Required[StreamingBody]
    ETag: str
    VersionId: str
    ResponseMetadata: ResponseMetadata


class CreateMultipartUploadOutput(TypedDict):
    """The CreateMultipartUpload field the adapter reads."""

    UploadId: str


class ListedPart(TypedDict, total=False):
    """One part in a ListParts page."""

    PartNumber: Required[int]
    ETag: str
    Size: int
    ChecksumCRC32: str


class ListPartsOutput(TypedDict, total=False):
    """One ListParts page."""

    Parts: list[ListedPart]
    IsTruncated: bool
    NextPartNumberMarker: int


class CompletedPart(TypedDict, total=False):
    """One part of a CompleteMultipartUpload request (its checksum where the upload binds one)."""

    PartNumber: Required[int]
    ETag: Required[str]
    ChecksumCRC32: str


class CompletedMultipartUpload(TypedDict):
    """The part list of a CompleteMultipartUpload request."""

    Parts: list[CompletedPart]


class CompleteMultipartUploadOutput(TypedDict, total=False):
    """The CompleteMultipartUpload field the adapter reads (absent: no result)."""

    ETag: str


class S3Client(Protocol):
    """The boto3 S3 client operations the adapter calls (keyword arguments only)."""

    def head_object(self, *, Bucket: str, Key: str) -> HeadObjectOutput: ...

    def get_object(
        self, *, Bucket: str, Key: str, Range: str, IfMatch: str = ...
    ) -> GetObjectOutput: ...

    def delete_object(self, *, Bucket: str, Key: str) -> object: ...

    def create_multipart_upload(
        self, *, Bucket: str, Key: str, ContentType: str, ChecksumAlgorithm: str = ...
    ) -> CreateMultipartUploadOutput: ...

    def list_parts(
        self, *, Bucket: str, Key: str, UploadId: str, PartNumberMarker: int, MaxParts: int
    ) -> ListPartsOutput: ...

    def complete_multipart_upload(
        self,
        *,
        Bucket: str,
        Key: str,
        UploadId: str,
        MultipartUpload: CompletedMultipartUpload,
        IfNoneMatch: str,
    ) -> CompleteMultipartUploadOutput: ...

    def abort_multipart_upload(self, *, Bucket: str, Key: str, UploadId: str) -> object: ...

    def close(self) -> None: ...
