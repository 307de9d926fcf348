"""Type detection from a file's first bytes: rindle's own reviewed signatures.

Every rule here is a format's documented magic number or container header,
checked strictly enough that ordinary text never matches (a file starting
``BMW`` is not a bitmap, ``import x`` is not Python, ``<!-- -->`` is not
HTML). What no rule recognises is ``None`` — "unknown", never a guess.
Results are canonical names from :mod:`rindle_core._mimetypes`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from typing import Final

from ._markup import decode_markup

__all__ = ["SIGNED_TYPES", "sniff"]

# -- ISO base media (ftyp brands) -------------------------------------------------

_AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})
_HEIC_BRANDS: Final = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
)
_HEIF_BRANDS: Final = frozenset({b"mif1", b"msf1"})
_AUDIO_BRANDS: Final = frozenset({b"M4A ", b"M4B ", b"M4P "})
_VIDEO_BRANDS: Final = frozenset(
    {
        b"isom",
        b"iso2",
        b"iso3",
        b"iso4",
        b"iso5",
        b"iso6",
        b"iso8",
        b"mp41",
        b"mp42",
        b"mp71",
        b"avc1",
        b"dash",
        b"M4V ",
        b"M4VH",
        b"M4VP",
        b"mmp4",
        b"MSNV",
        b"NDAS",
        b"f4v ",
        b"F4V ",
    }
)
_QT_ATOMS: Final = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})


def _iso_media(sample: bytes) -> str | None:
    if sample[4:8] != b"ftyp":
        # Pre-ftyp QuickTime starts with a movie atom; its size's first byte is
        # binary, which rules out text such as "for free".
        if len(sample) >= 8 and sample[4:8] in _QT_ATOMS and sample[0] < 0x08:
            return "video/quicktime"
        return None
    size = struct.unpack(">I", sample[:4])[0]
    if size < 16:
        return None
    major = sample[8:12]
    brands = {major} | {sample[i : i + 4] for i in range(16, min(size, len(sample)) - 3, 4)}
    if brands & _AVIF_BRANDS:
        return "image/avif"
    if major in _HEIC_BRANDS or (major in _HEIF_BRANDS and brands & _HEIC_BRANDS):
        return "image/heic"
    if major in _HEIF_BRANDS:
        return "image/heif"
    if major in _AUDIO_BRANDS:
        return "audio/mp4"
    if major == b"qt  ":
        return "video/quicktime"
    if major.startswith(b"3g2"):
        return "video/3gpp2"
    if major.startswith(b"3gp"):
        return "video/3gpp"
    if brands & _VIDEO_BRANDS:
        return "video/mp4"
    return None


# -- RIFF, Ogg, EBML ---------------------------------------------------------------

_RIFF: Final = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}


def _riff(sample: bytes) -> str | None:
    if sample[:4] != b"RIFF":
        return None
    return _RIFF.get(sample[8:12])


def _aiff(sample: bytes) -> str | None:
    if sample[:4] == b"FORM" and sample[8:12] in (b"AIFF", b"AIFC"):
        return "audio/aiff"
    return None


def _ogg(sample: bytes) -> str | None:
    if sample[:5] != b"OggS\x00":
        return None
    packet = sample[28:36]
    if packet.startswith((b"OpusHead", b"\x01vorbis", b"\x7fFLAC", b"Speex   ")):
        return "audio/ogg"
    if packet.startswith(b"\x80theora"):
        return "video/ogg"
    return "application/ogg"


def _ebml(sample: bytes) -> str | None:
    if sample[:4] != b"\x1a\x45\xdf\xa3":
        return None
    doctype = re.search(rb"\x42\x82[\x80-\xff](webm|matroska)", sample[:64])
    if doctype and doctype.group(1) == b"webm":
        return "video/webm"
    return "video/x-matroska"


# -- MPEG audio and video ------------------------------------------------------------


def _mpeg_audio(sample: bytes) -> str | None:
    start = 0
    if sample[:3] == b"ID3" and len(sample) >= 10 and sample[3] in (2, 3, 4):
        # Skip the ID3v2 tag (a syncsafe size) to reach the first frame.
        size = 0
        for byte in sample[6:10]:
            size = (size << 7) | (byte & 0x7F)
        start = 10 + size + (10 if sample[5] & 0x10 else 0)
        if start + 4 > len(sample):
            return "audio/mpeg"
    frame = sample[start : start + 4]
    if len(frame) < 4 or frame[0] != 0xFF or frame[1] & 0xE0 != 0xE0:
        return "audio/mpeg" if start else None
    if frame[1] & 0xF6 == 0xF0:  # ADTS: MPEG-4 or -2 AAC, layer bits 00
        return "audio/aac"
    layer, bitrate, rate = (frame[1] >> 1) & 3, frame[2] >> 4, (frame[2] >> 2) & 3
    if frame[1] & 0x18 == 0x08 or layer == 0 or bitrate == 0xF or rate == 3:
        return "audio/mpeg" if start else None
    return "audio/mpeg"


def _mpeg_ts(sample: bytes) -> str | None:
    """Five or more 188-byte packets (192 with a timecode), each starting 0x47."""
    for stride, first in ((188, 0), (192, 4)):
        positions = range(first, len(sample), stride)
        if len(positions) >= 5 and all(sample[i] == 0x47 for i in positions):
            return "video/mp2t"
    return None


def _mpeg_ps(sample: bytes) -> str | None:
    return "video/mpeg" if sample[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3") else None


# -- images with more than a prefix to check --------------------------------------------


def _bmp(sample: bytes) -> str | None:
    if sample[:2] != b"BM" or len(sample) < 18 or sample[6:10] != bytes(4):
        return None
    header = struct.unpack("<I", sample[14:18])[0]
    return "image/bmp" if header in (12, 40, 52, 56, 64, 108, 124) else None


def _ico(sample: bytes) -> str | None:
    if sample[:4] != b"\x00\x00\x01\x00" or len(sample) < 22:
        return None
    count = struct.unpack("<H", sample[4:6])[0]
    return "image/vnd.microsoft.icon" if count and sample[9] == 0 else None


def _tar(sample: bytes) -> str | None:
    return "application/x-tar" if sample[257:263] in (b"ustar\x00", b"ustar ") else None


def _markup(sample: bytes) -> str | None:
    """SVG, (X)HTML, XSLT or XML by the first element, past prolog and comments."""
    text = decode_markup(sample)
    position, declared_xml = 0, False
    while True:
        match = _SPACE.match(text, position)
        position = match.end() if match else position
        if text.startswith("<?xml", position) and text[position + 5 : position + 6].isspace():
            declared_xml = True
            position = _skip(text, position, "?>")
        elif text.startswith(("<?", "<!--"), position):
            position = _skip(text, position, "?>" if text[position + 1] == "?" else "-->")
        elif text[position : position + 9].lower() == "<!doctype":
            doctype = _DOCTYPE.match(text, position)
            if doctype is None:
                return None
            if doctype.group(1).lower() == "html":
                return "text/html"
            position = doctype.end()
        else:
            break
        if position < 0:
            return None
    element = _ELEMENT.match(text, position)
    if element is None:
        return None
    name = element.group(1).rsplit(":", 1)[-1].lower()
    if name == "svg":
        return "image/svg+xml"
    if name in ("html", "head", "body"):
        return "application/xhtml+xml" if declared_xml else "text/html"
    if name in ("stylesheet", "transform") and declared_xml:
        return "application/xslt+xml"
    return "application/xml" if declared_xml else None


_SPACE: Final = re.compile(r"[\s\ufeff]+")
_DOCTYPE: Final = re.compile(r"<!doctype\s+([\w:.-]+)[^\[>]*(?:\[.*?\])?\s*>", re.I | re.S)
_ELEMENT: Final = re.compile(r"<([A-Za-z_][\w:.-]*)[\s/>]")


def _skip(text: str, position: int, end: str) -> int:
    found = text.find(end, position)
    return -1 if found < 0 else found + len(end)


# -- the table ---------------------------------------------------------------------------

#: Fixed prefixes at offset 0 → type.
_PREFIXES: Final[tuple[tuple[bytes, str], ...]] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\xff\x0a", "image/jxl"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "image/jxl"),
    (b"fLaC", "audio/flac"),
    (b"MThd\x00\x00\x00\x06", "audio/midi"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),
    (b"PK\x07\x08", "application/zip"),
    (b"\x1f\x8b\x08", "application/gzip"),
    (b"\xfd7zXZ\x00", "application/x-xz"),
    (b"\x28\xb5\x2f\xfd", "application/zstd"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07\x00", "application/vnd.rar"),
    (b"Rar!\x1a\x07\x01\x00", "application/vnd.rar"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (b"{\\rtf1", "application/rtf"),
    (b"wOFF", "font/woff"),
    (b"wOF2", "font/woff2"),
    (b"\x00\x01\x00\x00\x00", "font/ttf"),
    (b"true\x00", "font/ttf"),
    (b"OTTO\x00", "font/otf"),
    (b"ttcf\x00", "font/collection"),
)

_BZIP2: Final = re.compile(rb"BZh[1-9](?:1AY&SY|\x17rE8P\x90)")

_RULES: Final[tuple[Callable[[bytes], str | None], ...]] = (
    _iso_media,
    _riff,
    _aiff,
    _ogg,
    _ebml,
    _mpeg_ts,
    _mpeg_ps,
    _bmp,
    _ico,
    lambda s: "application/x-bzip2" if _BZIP2.match(s) else None,
    _mpeg_audio,
    _tar,
    _markup,
)

#: Every type :func:`sniff` can return: a declared type in this set must be confirmed.
SIGNED_TYPES: Final = frozenset(
    {mime for _, mime in _PREFIXES}
    | {
        "image/avif",
        "image/heic",
        "image/heif",
        "audio/mp4",
        "video/mp4",
        "video/quicktime",
        "video/3gpp",
        "video/3gpp2",
        "image/webp",
        "audio/wav",
        "video/x-msvideo",
        "audio/aiff",
        "audio/ogg",
        "video/ogg",
        "application/ogg",
        "video/webm",
        "video/x-matroska",
        "video/mp2t",
        "video/mpeg",
        "image/bmp",
        "image/vnd.microsoft.icon",
        "application/x-bzip2",
        "audio/mpeg",
        "audio/aac",
        "application/x-tar",
        "image/svg+xml",
    }
)


def sniff(sample: bytes) -> str | None:
    """The canonical type the first bytes prove, or None when no rule matches."""
    for prefix, mime in _PREFIXES:
        if sample.startswith(prefix):
            return mime
    for rule in _RULES:
        found = rule(sample)
        if found:
            return found
    return None
