"""Real files built in the test, for type detection and active-content checks.

Each builder returns a complete, well-formed file of its format (a PNG a
decoder opens, a JPEG with valid markers and Huffman tables, a PDF with a
correct xref table, ...). Binary payloads come from a seeded generator, so
every run sees the same bytes while the bytes still look like compressed
image data.
"""

from __future__ import annotations

import random
import struct
import zlib

__all__ = [
    "XMP",
    "gif",
    "jpeg",
    "mp4",
    "mpeg_ts",
    "ogg_opus",
    "pdf",
    "png",
    "polyglot",
    "wav",
    "webm",
    "webp",
]

#: An XMP packet as cameras and editors embed it (XML, but never active).
XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 6.0.0">\n'
    b' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    b'  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
    b'    xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Editor 1.0">\n'
    b"   <dc:format>image/png</dc:format>\n"
    b'   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">A cat on a scripted'
    b" tour of the body shop</rdf:li></rdf:Alt></dc:description>\n"
    b"  </rdf:Description>\n"
    b" </rdf:RDF>\n"
    b"</x:xmpmeta>\n"
    b'<?xpacket end="w"?>'
)


def _noise(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    body = tag + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png(width: int = 64, height: int = 64, *, seed: int = 0, xmp: bool = False) -> bytes:
    """A valid RGB PNG of random pixels (incompressible IDAT), optionally with XMP."""
    noise = _noise(seed, width * height * 3)
    rows = b"".join(b"\x00" + noise[y * width * 3 : (y + 1) * width * 3] for y in range(height))
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))]
    if xmp:
        chunks.append(_png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP))
    chunks.append(_png_chunk(b"IDAT", zlib.compress(rows, 9)))
    chunks.append(_png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def jpeg(*, seed: int = 0, xmp: bool = False, comment: bytes = b"", icc: int = 4000) -> bytes:
    """A valid baseline 8x8 grey JPEG (one flat block) with a random ICC-like APP2 blob."""
    parts = [b"\xff\xd8", _jpeg_segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")]
    if xmp:
        parts.append(_jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP))
    if icc:
        parts.append(_jpeg_segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + _noise(seed, icc)))
    if comment:
        parts.append(_jpeg_segment(0xFE, comment))
    parts += [
        _jpeg_segment(0xDB, b"\x00" + bytes([1] * 64)),  # quantisation table 0
        _jpeg_segment(0xC0, b"\x08\x00\x08\x00\x08\x01\x01\x11\x00"),  # 8x8, 1 component
        # One-symbol Huffman tables: DC category 0 and AC end-of-block, 1-bit codes.
        _jpeg_segment(0xC4, b"\x00" + b"\x01" + bytes(15) + b"\x00"),
        _jpeg_segment(0xC4, b"\x10" + b"\x01" + bytes(15) + b"\x00"),
        _jpeg_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
        b"\x3f",  # DC diff 0 ("0"), EOB ("0"), padded with ones
        b"\xff\xd9",
    ]
    return b"".join(parts)


def gif() -> bytes:
    """A valid 1x1 GIF89a."""
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
        b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def pdf(*, seed: int = 0, text: str = "Hello, world") -> bytes:
    """A valid one-page PDF with a compressed random stream and XMP metadata."""
    content = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    blob = zlib.compress(_noise(seed, 3000))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /Metadata 6 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> /XObject << /Im1 7 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n%s\nendstream" % (len(XMP), XMP),
        b"<< /Type /XObject /Subtype /Image /Width 10 /Height 100 /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream"
        % (len(blob), blob),
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload) + 8) + kind + payload


def mp4(brand: bytes = b"isom", compatible: bytes = b"isomiso2avc1mp41", *, seed: int = 0) -> bytes:
    """An ISO base media file: ``ftyp``, ``free`` and a random ``mdat``."""
    return (
        _box(b"ftyp", brand + b"\x00\x00\x02\x00" + compatible)
        + _box(b"free", b"")
        + _box(b"mdat", _noise(seed, 6000))
    )


def wav(*, seed: int = 0) -> bytes:
    """A valid 16-bit mono PCM WAVE file of noise."""
    data = _noise(seed, 4000)
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp(*, seed: int = 0) -> bytes:
    """A RIFF/WEBP container holding a lossless (VP8L) bitstream."""
    bitstream = b"\x2f" + _noise(seed, 500)
    chunk = b"VP8L" + struct.pack("<I", len(bitstream)) + bitstream
    return b"RIFF" + struct.pack("<I", len(chunk) + 4) + b"WEBP" + chunk


def ogg_opus(*, seed: int = 0) -> bytes:
    """An Ogg page carrying an ``OpusHead`` packet, then noise."""
    head = b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"
    page = (
        b"OggS\x00\x02" + bytes(8) + b"\x01\x00\x00\x00" + bytes(8) + b"\x01" + bytes([len(head)])
    )
    return page + head + _noise(seed, 2000)


def webm(*, seed: int = 0) -> bytes:
    """An EBML header declaring DocType ``webm``, then noise."""
    header = b"\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm"
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(header)]) + header + _noise(seed, 2000)


def mpeg_ts(packets: int = 60, *, seed: int = 0) -> bytes:
    """An MPEG transport stream: 188-byte packets, each starting with the 0x47 sync byte."""
    noise = _noise(seed, packets * 187)
    return b"".join(b"\x47" + noise[i * 187 : (i + 1) * 187] for i in range(packets))


def polyglot(prefix: bytes, markup: bytes = b"<html><script>alert(1)</script></html>") -> bytes:
    """*prefix* (a real file's header) followed by markup, as an attacker would send."""
    return prefix[:64] + markup + prefix[64:]
