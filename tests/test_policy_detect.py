"""Type detection by rindle's own signatures, and the integrity of its type table."""

from __future__ import annotations

import mimetypes

import policy_samples as samples
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rindle_core import HeadResult, Profile
from rindle_core._mimetypes import (
    _ALIASES,
    _GROUPS,
    _PARENTS,
    EXTENSIONS,
    canonical,
    compatible,
    guess_type,
)
from rindle_core._promotion import (
    SNIFF_BYTES,
    detect_type,
    policy_violation,
    sniff_length,
    verified_type,
)
from rindle_core._signatures import SIGNED_TYPES

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (samples.png(), "image/png"),
        (samples.jpeg(), "image/jpeg"),
        (samples.gif(), "image/gif"),
        (samples.webp(), "image/webp"),
        (samples.pdf(), "application/pdf"),
        (samples.wav(), "audio/wav"),
        (samples.ogg_opus(), "audio/ogg"),
        (samples.webm(), "video/webm"),
        (samples.mpeg_ts(), "video/mp2t"),
        (samples.mp4(), "video/mp4"),
        (samples.mp4(b"M4A ", b"M4A mp42isom"), "audio/mp4"),
        (samples.mp4(b"qt  ", b"qt  "), "video/quicktime"),
        (samples.mp4(b"heic", b"mif1heic"), "image/heic"),
        (samples.mp4(b"mif1", b"mif1heic"), "image/heic"),
        (samples.mp4(b"mif1", b"mif1miaf"), "image/heif"),
        (samples.mp4(b"avif", b"avifmif1miaf"), "image/avif"),
        (samples.mp4(b"mif1", b"mif1avif"), "image/avif"),
        (samples.mp4(b"XAVC", b"XAVCmp42iso2"), "video/mp4"),
        (samples.mp4(b"3gp4", b"3gp4isom"), "video/3gpp"),
        (samples.mp4(b"crx ", b"crx isom"), "video/mp4"),
        (
            b"ID3\x04\x00\x00\x00\x00\x00\x05" + bytes(5) + b"\xff\xfb\x90\x64" + bytes(400),
            "audio/mpeg",
        ),
        (b"\xff\xfb\x90\x64" + bytes(400), "audio/mpeg"),
        (b"\xff\xf1\x50\x80" + bytes(400), "audio/aac"),
        (b"fLaC\x00\x00\x00\x22" + bytes(40), "audio/flac"),
        (b"PK\x03\x04" + bytes(60), "application/zip"),
        (b"\x1f\x8b\x08\x00" + bytes(20), "application/gzip"),
        (bytes(257) + b"ustar\x0000" + bytes(300), "application/x-tar"),
        (b"7z\xbc\xaf\x27\x1c" + bytes(30), "application/x-7z-compressed"),
        (b"wOF2" + bytes(40), "font/woff2"),
        (b"\x00\x01\x00\x00\x00\x0f" + bytes(40), "font/ttf"),
        (
            b"BM" + bytes(4) + bytes(4) + b"\x36\x00\x00\x00" + b"\x28\x00\x00\x00" + bytes(40),
            "image/bmp",
        ),
        (b"\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00" + bytes(30), "image/vnd.microsoft.icon"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
        (b"\xef\xbb\xbf  <?xml version='1.0'?>\n<!-- by hand -->\n<svg/>", "image/svg+xml"),
        (
            b'<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
            b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n<svg>',
            "image/svg+xml",
        ),
        (b"<s:svg xmlns:s='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
        ("<svg/>".encode("utf-16-le"), "image/svg+xml"),
        (b"<!DOCTYPE html><p>", "text/html"),
        (b"<html><body>", "text/html"),
        (
            b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml">',
            "application/xhtml+xml",
        ),
        (b'<?xml version="1.0"?><xsl:stylesheet version="1.0">', "application/xslt+xml"),
        (b'<?xml version="1.0"?><rss version="2.0">', "application/xml"),
    ],
)
def test_detect_type(data: bytes, expected: str) -> None:
    assert detect_type(data) == expected


@pytest.mark.parametrize(
    "text",
    [
        b"BMW is a car maker",
        b"MZ hello",
        b"RIFF is a word",
        b"for free stuff, see below",
        b"GIF8 is not enough",
        b"ID3 tags are metadata",
        b"import x from 'y'\nconsole.log(x)\n",
        b'{"a": [1, 2]}',
        b"name,age\nbob,3\n",
        b"<!-- comment -->\n# Title\n",
        b'<div align="center"><img src="logo.png"></div>',
        b"<note><to>Tove</to></note>",
        b"G" + b"x" * 187 + b"G" + b"x" * 187 + b"G",
        b"",
    ],
)
def test_text_is_never_read_as_a_binary_format(text: bytes) -> None:
    assert detect_type(text) is None


def test_detection_reads_only_the_first_bytes() -> None:
    assert detect_type(b" " * SNIFF_BYTES + b"<svg/>") is None


def test_sniff_length_reads_markup_whole_up_to_the_limit() -> None:
    assert sniff_length("image/png", 10**9) == SNIFF_BYTES
    assert sniff_length("image/png", 100) == 100
    assert sniff_length("image/svg+xml", 100_000) == 100_000
    assert sniff_length("application/rss+xml", 100_000) == 100_000
    assert sniff_length("text/xml", 10**9) == 4 * 1024 * 1024
    assert sniff_length(None, 100_000) == SNIFF_BYTES
    assert sniff_length("image/svg+xml", 0) == 0


def test_verified_type_prefers_the_declared_name_when_detection_agrees() -> None:
    assert verified_type("audio/x-m4a", "video/mp4") == "audio/x-m4a"
    assert verified_type(DOCX, "application/zip") == DOCX
    assert verified_type("image/png", "image/jpeg") == "image/jpeg"
    assert verified_type("text/plain", None) == "text/plain"
    assert verified_type("application/octet-stream", "image/png") == "image/png"
    assert verified_type(None, None) is None


# -- the table -------------------------------------------------------------------


def test_every_name_in_the_table_is_canonical() -> None:
    names = {t for types in EXTENSIONS.values() for t in types}
    names |= set(_ALIASES.values()) | set(_PARENTS) | set(_PARENTS.values())
    names |= {t for group in _GROUPS for t in group} | SIGNED_TYPES
    assert {n for n in names if canonical(n) != n} == set()
    assert {n for n in names if n != n.lower() or n.count("/") != 1} == set()


def test_groups_do_not_overlap() -> None:
    seen: set[str] = set()
    for group in _GROUPS:
        assert not group & seen
        seen |= group


def test_compatible_is_symmetric_and_reflexive() -> None:
    names = sorted({t for types in EXTENSIONS.values() for t in types} | set(_ALIASES))
    for a in names:
        assert compatible(a, a)
        for b in names:
            assert compatible(a, b) == compatible(b, a), (a, b)


def test_siblings_in_a_container_are_not_compatible() -> None:
    assert compatible(DOCX, "application/zip")
    assert not compatible(DOCX, "application/vnd.oasis.opendocument.text")
    assert compatible("text/csv", "text/plain")
    assert not compatible("text/csv", "text/markdown")


def test_guess_type_is_the_table_not_the_process() -> None:
    saved = dict(mimetypes.types_map)
    try:
        mimetypes.types_map[".png"] = "text/html"
        assert guess_type("фото.PNG") == "image/png"
        assert guess_type("dir\\segment.ts") == "video/mp2t"
        assert guess_type("app.js") == "text/javascript"
        assert guess_type("README") is None
        assert guess_type("x.unknownext") is None
    finally:
        mimetypes.types_map.clear()
        mimetypes.types_map.update(saved)


PREFIXES = [
    b"",
    b"ID3\x03\x00",
    b"\x00\x00\x00\x18ftyp",
    b"RIFF\x00\x00\x00\x00",
    b"OggS\x00",
    b"\x1a\x45\xdf\xa3",
    b"BM",
    b"\x00\x00\x01\x00",
    b"\xff\xfb",
    b"G",
    b"<?xml ",
    b"<!doctype",
    b"<!--",
    b"\xff\xfe",
    b"<\x00",
    b"\x00<",
]


@given(st.sampled_from(PREFIXES), st.binary(max_size=600))
def test_detection_and_policy_never_raise(prefix: bytes, tail: bytes) -> None:
    data = prefix + tail
    detected = detect_type(data)
    assert detected is None or canonical(detected) == detected
    for declared in ("image/svg+xml", "image/png", "text/plain", None):
        policy_violation(
            Profile(name="p"),
            filename="f",
            declared=declared,
            detected=detected,
            head=HeadResult(size=len(data)),
            declared_size=None,
            sample=data,
        )
