"""Read a markup document's bytes as text the way a browser's XML parser would.

Only the encodings a browser accepts for XML and SVG matter: UTF-8 (and
ASCII-compatible 8-bit encodings, read here as Latin-1 so every ASCII marker
keeps its place) and UTF-16/UTF-32, found by their byte-order mark or, for
UTF-16 without one, by the NUL byte beside every ASCII character.
"""

from __future__ import annotations

from typing import Final

__all__ = ["decode_markup", "markup_readings"]

_BOMS: Final = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)


def _utf16_without_bom(sample: bytes) -> str | None:
    head = sample[:256]
    if len(head) < 8:
        return None
    stripped = head.lstrip(b" \t\r\n\x00")
    offset = len(head) - len(stripped)
    if stripped[:1] == b"<":  # "<" then NUL: little-endian; NUL then "<": big-endian
        if stripped[1:2] == b"\x00" and offset % 2 == 0:
            return "utf-16-le"
        if offset % 2 == 1 and head[offset - 1] == 0:
            return "utf-16-be"
    even, odd = head[0::2], head[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def markup_readings(sample: bytes) -> list[str]:
    """Every reading of *sample* a browser might parse: inspect them all.

    With a byte-order mark, that encoding alone. Otherwise Latin-1, and when
    the bytes hold any NUL, UTF-16 in both byte orders too (a UTF-16 document
    needs no BOM when it starts ``<?xml``, and its text may be mostly
    non-ASCII).
    """
    for bom, _ in _BOMS:
        if sample.startswith(bom):
            return [decode_markup(sample)]
    readings = [sample.decode("latin-1")]
    if b"\x00" in sample:
        readings += [sample.decode(c, errors="replace") for c in ("utf-16-le", "utf-16-be")]
    return readings


def decode_markup(sample: bytes) -> str:
    """*sample* as text: BOM-declared or NUL-interleaved UTF-16/32, else Latin-1."""
    for bom, codec in _BOMS:
        if sample.startswith(bom):
            if codec == "utf-8":
                return sample[len(bom) :].decode("latin-1")
            return sample[len(bom) :].decode(codec, errors="replace")
    utf16 = _utf16_without_bom(sample)
    if utf16:
        return sample.decode(utf16, errors="replace")
    return sample.decode("latin-1")
