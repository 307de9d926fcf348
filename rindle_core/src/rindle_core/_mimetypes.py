"""rindle's own table of upload types: extensions, aliases and families.

Policy never reads the process-wide :mod:`mimetypes` module: its table
changes whenever anything in the process calls ``mimetypes.init()`` (which
reads ``/etc/mime.types`` or the Windows registry) or ``add_type()``, so the
same upload would be accepted or refused depending on what ran before. This
table is reviewed, versioned with rindle and the same on every machine
(see ADR 0070).

Three relations, from strict to loose:

* **alias** — two names for one format (``image/pjpeg`` is ``image/jpeg``);
  :func:`canonical` maps an alias to its canonical name. Allow-lists compare
  canonical names, nothing looser.
* **group** — formats the first bytes cannot tell apart (an ``.m4a`` and an
  ``.mp4`` are both ISO media files); members are mutually compatible.
* **container** — a format that is a specialisation of another (a ``.docx``
  is a ZIP archive, CSV is plain text); child and parent are compatible,
  siblings are not.

:func:`compatible` is the union of the three; it decides whether a declared,
a detected and an extension's type agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "EXTENSIONS",
    "canonical",
    "compatible",
    "guess_type",
    "relatives",
    "types_for_extension",
]

_DOCX: Final = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_PPTX: Final = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
_ODT: Final = "application/vnd.oasis.opendocument.text"
_ODS: Final = "application/vnd.oasis.opendocument.spreadsheet"
_ODP: Final = "application/vnd.oasis.opendocument.presentation"

#: Extension → (canonical type, other types clients legitimately declare for it).
EXTENSIONS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        # images
        "png": ("image/png",),
        "apng": ("image/apng", "image/png"),
        "jpg": ("image/jpeg",),
        "jpeg": ("image/jpeg",),
        "jpe": ("image/jpeg",),
        "jfif": ("image/jpeg",),
        "pjpeg": ("image/jpeg",),
        "pjp": ("image/jpeg",),
        "gif": ("image/gif",),
        "webp": ("image/webp",),
        "avif": ("image/avif",),
        "heic": ("image/heic", "image/heif"),
        "heif": ("image/heif", "image/heic"),
        "svg": ("image/svg+xml",),
        "bmp": ("image/bmp",),
        "ico": ("image/vnd.microsoft.icon",),
        "tif": ("image/tiff",),
        "tiff": ("image/tiff",),
        "jxl": ("image/jxl",),
        # audio
        "mp3": ("audio/mpeg",),
        "m4a": ("audio/mp4",),
        "aac": ("audio/aac",),
        "ogg": ("audio/ogg", "application/ogg", "video/ogg"),
        "oga": ("audio/ogg",),
        "opus": ("audio/ogg", "audio/opus"),
        "flac": ("audio/flac",),
        "wav": ("audio/wav",),
        "weba": ("audio/webm",),
        "mid": ("audio/midi",),
        "midi": ("audio/midi",),
        "aif": ("audio/aiff",),
        "aiff": ("audio/aiff",),
        # video
        "mp4": ("video/mp4", "audio/mp4"),
        "m4v": ("video/mp4",),
        "mov": ("video/quicktime",),
        "qt": ("video/quicktime",),
        "webm": ("video/webm", "audio/webm"),
        "mkv": ("video/x-matroska",),
        # MPEG transport stream (HLS segments); TypeScript only under its own types.
        "ts": ("video/mp2t", "application/typescript"),
        "m2ts": ("video/mp2t",),
        "mts": ("video/mp2t",),
        "m3u8": ("application/vnd.apple.mpegurl",),
        "avi": ("video/x-msvideo",),
        "3gp": ("video/3gpp", "audio/3gpp"),
        "3g2": ("video/3gpp2", "audio/3gpp2"),
        "mpg": ("video/mpeg",),
        "mpeg": ("video/mpeg",),
        "ogv": ("video/ogg",),
        # documents
        "pdf": ("application/pdf",),
        "doc": ("application/msword",),
        "xls": ("application/vnd.ms-excel",),
        "ppt": ("application/vnd.ms-powerpoint",),
        "docx": (_DOCX,),
        "xlsx": (_XLSX,),
        "pptx": (_PPTX,),
        "odt": (_ODT,),
        "ods": (_ODS,),
        "odp": (_ODP,),
        "epub": ("application/epub+zip",),
        "rtf": ("application/rtf",),
        # Windows browsers declare CSV as Excel's type when Excel is installed.
        "csv": ("text/csv", "application/vnd.ms-excel"),
        "tsv": ("text/tab-separated-values",),
        "txt": ("text/plain",),
        "text": ("text/plain",),
        "log": ("text/plain",),
        "md": ("text/markdown",),
        "markdown": ("text/markdown",),
        "json": ("application/json",),
        "geojson": ("application/geo+json", "application/json"),
        "ndjson": ("application/x-ndjson",),
        "yaml": ("application/yaml",),
        "yml": ("application/yaml",),
        "xml": ("application/xml",),
        "ics": ("text/calendar",),
        "vcf": ("text/vcard",),
        "css": ("text/css",),
        # active: refused unless the profile allows active content (ADR 0071)
        "html": ("text/html",),
        "htm": ("text/html",),
        "shtml": ("text/html",),
        "xhtml": ("application/xhtml+xml",),
        "xht": ("application/xhtml+xml",),
        "js": ("text/javascript",),
        "mjs": ("text/javascript",),
        "cjs": ("text/javascript",),
        "xsl": ("application/xslt+xml",),
        "xslt": ("application/xslt+xml",),
        # archives
        "zip": ("application/zip",),
        "gz": ("application/gzip", "application/x-compressed-tar"),
        "tgz": ("application/gzip", "application/x-compressed-tar"),
        "tar": ("application/x-tar",),
        "bz2": ("application/x-bzip2",),
        "xz": ("application/x-xz",),
        "zst": ("application/zstd",),
        "7z": ("application/x-7z-compressed",),
        "rar": ("application/vnd.rar",),
        # fonts
        "woff": ("font/woff",),
        "woff2": ("font/woff2",),
        "ttf": ("font/ttf",),
        "otf": ("font/otf",),
        "ttc": ("font/collection",),
    }
)

#: Other names for one format → its canonical name.
_ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "image/jpg": "image/jpeg",
        "image/pjpeg": "image/jpeg",
        "image/x-png": "image/png",
        "image/x-ms-bmp": "image/bmp",
        "image/x-bmp": "image/bmp",
        "image/x-icon": "image/vnd.microsoft.icon",
        "audio/mp3": "audio/mpeg",
        "audio/mpeg3": "audio/mpeg",
        "audio/x-mpeg": "audio/mpeg",
        "audio/x-mp3": "audio/mpeg",
        "audio/x-m4a": "audio/mp4",
        "audio/m4a": "audio/mp4",
        "audio/x-aac": "audio/aac",
        "audio/aacp": "audio/aac",
        "audio/x-flac": "audio/flac",
        "audio/x-wav": "audio/wav",
        "audio/wave": "audio/wav",
        "audio/vnd.wave": "audio/wav",
        "audio/x-midi": "audio/midi",
        "audio/x-aiff": "audio/aiff",
        "video/x-m4v": "video/mp4",
        "video/matroska": "video/x-matroska",
        "video/avi": "video/x-msvideo",
        "video/msvideo": "video/x-msvideo",
        "application/x-mpegurl": "application/vnd.apple.mpegurl",
        "audio/mpegurl": "application/vnd.apple.mpegurl",
        "audio/x-mpegurl": "application/vnd.apple.mpegurl",
        "text/rtf": "application/rtf",
        "text/x-markdown": "text/markdown",
        "text/xml": "application/xml",
        "text/yaml": "application/yaml",
        "text/x-yaml": "application/yaml",
        "application/x-yaml": "application/yaml",
        "application/javascript": "text/javascript",
        "application/x-javascript": "text/javascript",
        "application/ecmascript": "text/javascript",
        "text/ecmascript": "text/javascript",
        "text/x-javascript": "text/javascript",
        "text/xsl": "application/xslt+xml",
        "application/x-zip-compressed": "application/zip",
        "application/x-zip": "application/zip",
        "application/x-gzip": "application/gzip",
        "application/x-7z": "application/x-7z-compressed",
        "application/x-rar-compressed": "application/vnd.rar",
        "application/x-rar": "application/vnd.rar",
        "application/font-woff": "font/woff",
        "application/x-font-woff": "font/woff",
        "application/font-woff2": "font/woff2",
        "application/x-font-ttf": "font/ttf",
        "application/x-font-truetype": "font/ttf",
        "application/x-font-otf": "font/otf",
        "application/x-font-opentype": "font/otf",
        "application/vnd.ms-opentype": "font/otf",
        "text/typescript": "application/typescript",
        "text/x-typescript": "application/typescript",
    }
)

#: Formats the first bytes cannot tell apart: mutually compatible.
_GROUPS: Final[tuple[frozenset[str], ...]] = (
    # ISO base media / QuickTime: audio-only and video files share brands.
    frozenset(
        {
            "video/mp4",
            "audio/mp4",
            "video/quicktime",
            "video/3gpp",
            "audio/3gpp",
            "video/3gpp2",
            "audio/3gpp2",
        }
    ),
    frozenset({"image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"}),
    frozenset({"application/ogg", "audio/ogg", "video/ogg", "audio/opus"}),
    frozenset({"video/webm", "audio/webm", "video/x-matroska", "audio/x-matroska"}),
    frozenset({"image/png", "image/apng"}),
    frozenset({"font/ttf", "font/otf", "font/sfnt"}),
)

#: Specialised format → the container format it is built on.
_PARENTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        _DOCX: "application/zip",
        _XLSX: "application/zip",
        _PPTX: "application/zip",
        _ODT: "application/zip",
        _ODS: "application/zip",
        _ODP: "application/zip",
        "application/epub+zip": "application/zip",
        "application/msword": "application/x-ole-storage",
        "application/vnd.ms-excel": "application/x-ole-storage",
        "application/vnd.ms-powerpoint": "application/x-ole-storage",
        "application/x-compressed-tar": "application/gzip",
        "text/csv": "text/plain",
        "text/tab-separated-values": "text/plain",
        "text/markdown": "text/plain",
        "application/json": "text/plain",
        "image/svg+xml": "application/xml",
        "application/xslt+xml": "application/xml",
        "application/xhtml+xml": "application/xml",
    }
)

_GROUP_OF: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {member: group for group in _GROUPS for member in group}
)


def canonical(mime: str) -> str:
    """The canonical name of *mime* (lower case, parameters already removed)."""
    lowered = mime.lower()
    return _ALIASES.get(lowered, lowered)


def compatible(a: str, b: str) -> bool:
    """Whether types *a* and *b* can name the same bytes (alias, group or container)."""
    ca, cb = canonical(a), canonical(b)
    if ca == cb:
        return True
    if cb in _GROUP_OF.get(ca, frozenset()):
        return True
    return _PARENTS.get(ca) == cb or _PARENTS.get(cb) == ca


def relatives(mime: str) -> frozenset[str]:
    """*mime*'s canonical name, its group and its container: what its bytes may sniff as."""
    name = canonical(mime)
    parent = _PARENTS.get(name)
    return _GROUP_OF.get(name, frozenset()) | {name} | ({parent} if parent else set())


def types_for_extension(ext: str) -> tuple[str, ...]:
    """The types an extension may carry (canonical first); ``()`` when unknown."""
    return EXTENSIONS.get(ext.lower(), ())


def guess_type(filename: str) -> str | None:
    """The canonical type of *filename*'s extension, or None (never reads :mod:`mimetypes`)."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in base:
        return None
    found = types_for_extension(base.rsplit(".", 1)[1])
    return found[0] if found else None
