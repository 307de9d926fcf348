"""How a download URL serves an asset: its type and Content-Disposition.

A browser renders what it is served inline, and runs what is HTML, SVG or
script in the storage origin. Downloads are served with the verified type
(never the one a client chose) and as attachments when that type is one a
browser would execute.
"""

from __future__ import annotations

import unicodedata
from typing import Final, Literal
from urllib.parse import quote

from ._active_content import ACTIVE_TYPES as EXECUTABLE_TYPES
from ._active_content import is_markup_document
from ._mimetypes import canonical

__all__ = ["ACTIVE_TYPES", "Disposition", "content_disposition", "is_active_type"]

Disposition = Literal["inline", "attachment"]

#: Types served as attachments: what a browser executes (the upload policy's
#: :data:`~rindle_core._active_content.ACTIVE_TYPES`), plus what it runs or
#: renders in the serving origin; XML documents (SVG included) are added by
#: :func:`is_active_type`. Names are canonical (aliases folded).
ACTIVE_TYPES: Final = EXECUTABLE_TYPES | frozenset(
    {
        "application/wasm",
        "application/x-shockwave-flash",
        "text/vtt",
        "multipart/x-mixed-replace",
    }
)


def is_active_type(content_type: str) -> bool:
    """True when a browser would execute or render *content_type* as a document."""
    mime = canonical(content_type.split(";", 1)[0].strip())
    return mime in ACTIVE_TYPES or mime.endswith("/html") or is_markup_document(mime)


#: Longest ``filename*`` value sent: storage and proxies cap header lengths.
_MAX_ENCODED: Final = 512


def content_disposition(filename: str, disposition: Disposition) -> str:
    """An RFC 6266 header value: an ASCII fallback name and a UTF-8 ``filename*``.

    A long name is shortened (its extension kept) so the header stays short.
    """
    stem, dot, ext = filename.rpartition(".")
    if not dot:
        stem, ext = filename, ""
    while len(quote(filename, safe="")) > _MAX_ENCODED and stem:
        stem = stem[: max(1, len(stem) * 2 // 3)] if len(stem) > 1 else ""
        filename = f"{stem}.{ext}" if ext else stem
    filename = filename or "download"
    fallback = (
        "".join(
            ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\%;' else "_"
            for ch in unicodedata.normalize("NFKD", filename)
            if not unicodedata.combining(ch)
        ).strip()
        or "download"
    )
    encoded = quote(filename, safe="")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
