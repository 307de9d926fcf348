"""A streaming ``multipart/form-data`` reader for the receiver's form POST.

The fields before the file are read into memory (bounded in size); the
file field's body is then handed out as a stream that ends at its
boundary, so a file is never held in memory. What browsers and Uppy send
is accepted: one boundary, parts with ``Content-Disposition: form-data;
name=…``, the file last (fields after it are ignored, as S3 does).
"""

from __future__ import annotations

import email.message
from typing import Final

from ._disk import CHUNK, IncompleteBody, Reader, WriteRefused

__all__ = [
    "FILE_FIELD",
    "MAX_FIELDS_BYTES",
    "BodyTooSmall",
    "FormError",
    "FormReader",
    "SizedFile",
    "boundary_of",
]

#: The name of the form field that carries the file.
FILE_FIELD: Final = "file"
#: Bytes the form may spend before the file: every field, with its headers.
MAX_FIELDS_BYTES: Final = 64 * 1024
#: The largest header block of one part.
_MAX_PART_HEADERS: Final = 8 * 1024
_CRLF: Final = b"\r\n"


class FormError(WriteRefused):
    """The body is not a form this receiver understands (S3's code for it)."""

    code = "MalformedPOSTRequest"


class BodyTooSmall(WriteRefused):
    """The file is smaller than the signed minimum."""

    code = "EntityTooSmall"


def boundary_of(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` content type, or ``None``."""
    message = email.message.Message()
    message["Content-Type"] = content_type
    if message.get_content_type() != "multipart/form-data":
        return None
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= 70 or not boundary.isascii():
        return None
    return boundary.encode("ascii")


class FormReader:
    """Reads one form from *stream* (which must end where the body ends)."""

    def __init__(self, stream: Reader, boundary: bytes) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._eof = False
        self._delimiter = _CRLF + b"--" + boundary
        self._spent = 0
        self._in_file = False
        self._file_done = False

    def fields(self) -> dict[str, str]:
        """The fields before the file, by name; the stream then stands at the file's body.

        Raises :class:`FormError` for a malformed form, a repeated field, no
        file, or fields larger than :data:`MAX_FIELDS_BYTES`.
        """
        # The first boundary has no CRLF before it (a preamble, if any, is skipped).
        self._buffer[:0] = _CRLF
        self._until(self._delimiter, MAX_FIELDS_BYTES)
        found: dict[str, str] = {}
        while True:
            after = self._take(2)
            if after == b"--":
                raise FormError(f"the form has no {FILE_FIELD!r} field")
            if after != _CRLF:
                raise FormError("a form boundary is followed by junk")
            name = self._part_name(self._until(_CRLF * 2, _MAX_PART_HEADERS))
            if name == FILE_FIELD:
                self._in_file = True
                return found
            value = self._until(self._delimiter, MAX_FIELDS_BYTES)
            if name in found:
                raise FormError(f"the form repeats the field {name!r}")
            try:
                found[name] = value.decode("utf-8")
            except UnicodeDecodeError:
                raise FormError(f"the field {name!r} is not UTF-8") from None

    def read(self, size: int, /) -> bytes:
        """Up to *size* bytes of the file; ``b""`` at its boundary.

        :class:`IncompleteBody` when the body ends before the boundary, so a
        cut-off upload is never taken for a whole file.
        """
        if not self._in_file:
            raise RuntimeError("read the fields first")
        if self._file_done:
            return b""
        self._fill(size + len(self._delimiter))
        at = self._buffer.find(self._delimiter)
        if at == 0:
            self._file_done = True
            return b""
        if at > 0:
            count = min(size, at)
        elif self._eof:
            raise IncompleteBody("the form ended inside the file")
        else:  # the delimiter may begin in the last bytes: keep them
            count = min(size, len(self._buffer) - len(self._delimiter) + 1)
        chunk = bytes(self._buffer[:count])
        del self._buffer[:count]
        return chunk

    # -- internals ------------------------------------------------------------------

    def _fill(self, wanted: int) -> None:
        while len(self._buffer) < wanted and not self._eof:
            chunk = self._stream.read(CHUNK)
            if chunk:
                self._buffer += chunk
            else:
                self._eof = True

    def _until(self, marker: bytes, limit: int) -> bytes:
        """The bytes before *marker* (both consumed); FormError past *limit*."""
        start = 0
        while True:
            at = self._buffer.find(marker, start)
            if at >= 0:
                break
            if len(self._buffer) > limit or self._spent + len(self._buffer) > MAX_FIELDS_BYTES:
                raise FormError("the form's fields are too large")
            if self._eof:
                raise FormError("the form ended early")
            start = max(0, len(self._buffer) - len(marker) + 1)
            self._fill(len(self._buffer) + CHUNK)
        if at > limit or self._spent + at + len(marker) > MAX_FIELDS_BYTES:
            raise FormError("the form's fields are too large")
        value = bytes(self._buffer[:at])
        del self._buffer[: at + len(marker)]
        self._spent += at + len(marker)
        return value

    def _take(self, count: int) -> bytes:
        self._fill(count)
        taken = bytes(self._buffer[:count])
        del self._buffer[:count]
        self._spent += count
        return taken

    @staticmethod
    def _part_name(block: bytes) -> str:
        message = email.message.Message()
        for line in block.split(_CRLF):
            name, colon, value = line.decode("utf-8", "replace").partition(":")
            if not colon or not name.strip():
                raise FormError("a form part has a malformed header")
            message[name.strip()] = value.strip()
        if message.get_content_disposition() != "form-data":
            raise FormError("a form part is not form-data")
        field = message.get_param("name", header="content-disposition")
        if not isinstance(field, str) or not field:
            raise FormError("a form part has no name")
        return field


class SizedFile:
    """The file of a :class:`FormReader`, refused when it ends below *min_size* bytes."""

    def __init__(self, form: FormReader, min_size: int) -> None:
        self._form = form
        self._min_size = min_size
        self.size = 0

    def read(self, size: int, /) -> bytes:
        chunk = self._form.read(size)
        self.size += len(chunk)
        if not chunk and self.size < self._min_size:
            raise BodyTooSmall(f"the file has {self.size} bytes, fewer than {self._min_size}")
        return chunk
