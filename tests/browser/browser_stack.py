"""What a browser test drives and inspects: one backend behind rindle's upload
API, the broker's clock, and the API's request log."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import attrs
from uppy_server import RequestLog

from rindle_core import Broker, UploadSession
from rindle_core.storage import MultipartStorage
from rindle_core.web import Action, Request

__all__ = ["OWNER", "Clock", "Stack", "authorize"]

#: The owner the test hook returns for every request: the page's user.
OWNER: Final = "browser-user"


def authorize(request: Request, action: Action, profile: str, session: UploadSession | None) -> str:
    """The test hook: every request is the page's user's."""
    return OWNER


class Clock:
    """The broker's clock: real time until a test moves it past a moment."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance_past(self, moment: dt.datetime) -> None:
        """Move forward until *moment* has passed (never back)."""
        gap = moment - self() + dt.timedelta(seconds=1)
        if gap > dt.timedelta():
            self.offset += gap


@attrs.frozen
class Stack:
    """One backend behind the upload API, and the page's origin.

    ``storage_url`` is where the browser sends the bytes (the local receiver,
    or moto's front); ``admin`` and ``bucket`` are set for S3 only (a boto3
    client on moto, to list its multipart uploads).
    """

    backend: str
    broker: Broker
    storage: MultipartStorage
    storage_url: str
    origin: str
    requests: RequestLog
    clock: Clock
    admin: Any = None
    bucket: str | None = None

    def remote_uploads(self) -> list[str]:
        """The multipart upload ids the S3 bucket holds (S3 only)."""
        assert self.admin is not None, "only S3 lists its multipart uploads"
        listed = self.admin.list_multipart_uploads(Bucket=self.bucket)
        return [upload["UploadId"] for upload in listed.get("Uploads", [])]
