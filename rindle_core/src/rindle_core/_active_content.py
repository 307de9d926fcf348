"""Active content: what a browser would execute if it rendered the upload.

A profile that does not set ``allow_active_content`` refuses it (ADR 0071):

* **active types** — HTML, XHTML, JavaScript, XSLT — by declared type, by
  detected type or by extension, and server-side script extensions
  (``.php``, ``.aspx``, ``.jsp``…) that a web server in front of the storage
  might run (refused at the door when declared);
* **markup documents** — SVG and every XML type — whose text holds a script
  element, an event-handler attribute, a ``javascript:`` or HTML ``data:``
  URL, ``<foreignObject>``, an embedded frame, an entity declaration, an
  ``xml-stylesheet`` or XInclude. They are read whole up to
  :data:`MARKUP_SCAN_BYTES`; one that was not read whole is refused;
* **binary media** — images, audio, video, fonts, PDF — with HTML markup in
  their first bytes (a polyglot: a real header, then a page a browser would
  run if it ever sniffed the file as HTML).

Markers are matched case-insensitively and only as markup (``<script``
followed by whitespace, ``/`` or ``>``), so compressed image data does not
trigger them by chance. Only the bytes read are inspected; downloads are
served with the verified type and ``nosniff`` as the second line of defence.
"""

from __future__ import annotations

import html
import re
from typing import Final

from ._markup import markup_readings
from ._mimetypes import canonical, types_for_extension

__all__ = [
    "ACTIVE_TYPES",
    "MARKUP_SCAN_BYTES",
    "active_content",
    "declared_active_content",
    "is_markup_document",
]

#: Types a browser executes when it renders them.
ACTIVE_TYPES: Final = frozenset(
    {"text/html", "application/xhtml+xml", "text/javascript", "application/xslt+xml"}
)

#: Extensions a web server may execute if it ever serves the storage directly.
_SERVER_SCRIPTS: Final = frozenset(
    {"php", "php3", "php4", "php5", "php7", "phtml", "phar", "asp", "aspx", "jsp", "jspx", "cgi"}
)

#: Largest markup document (SVG, XML) inspected whole; a larger one is refused.
MARKUP_SCAN_BYTES: Final = 4 * 1024 * 1024

_BINARY_FAMILIES: Final = ("image/", "audio/", "video/", "font/")
_BINARY_TYPES: Final = frozenset({"application/pdf", "application/ogg"})

_NS: Final = r"(?:[^\s<>/\"'=]+:)?"  # an optional namespace prefix: <svg:script>
_END: Final = r"[\s/>]"

# Markup rules run on the lower-cased text of documents up to 4 MiB, so each
# pattern starts with a literal (fast to find) and its context is checked after.
_ELEMENT: Final = "element"  # the match is an element name: after "<" or "<prefix:"
_ATTRIBUTE: Final = "attribute"  # the match is an attribute name: after space, / or a quote

#: Markers inside an SVG or XML document: (pattern, context, what the reason names).
_MARKUP_RULES: Final[tuple[tuple[re.Pattern[str], str | None, str], ...]] = tuple(
    (re.compile(pattern), context, label)
    for pattern, context, label in (
        (r"script[\s/>]", _ELEMENT, "<script>"),
        (r"handler[\s/>]", _ELEMENT, "<handler>"),
        (r"foreignobject[\s/>]", _ELEMENT, "<foreignObject>"),
        (r"(?:iframe|frameset|frame|embed|object|applet)[\s/>]", _ELEMENT, "an embedded frame"),
        (r"<!entity", None, "an entity declaration"),
        (r"<\?xml-stylesheet", None, "an xml-stylesheet instruction"),
        (r"http://www\.w3\.org/2001/xinclude", None, "XInclude"),
        (r"on[a-z]+\s*=", _ATTRIBUTE, "an event handler attribute"),
        (r"""attributename\s*=\s*["']?\s*on""", None, "an animated event handler"),
    )
)

#: Characters that end a name when reading backwards from an element name.
_NAME_STOP: Final = frozenset(" \t\r\n\x0c<>/\"'=")
_ATTRIBUTE_LEAD: Final = frozenset(" \t\r\n\x0c/\"'")


def _spaced(word: str) -> str:
    """*word* with any ASCII control or space between its letters (browsers drop them)."""
    return r"[\x00-\x20]*".join(re.escape(ch) for ch in word)


#: URL schemes that run script, searched in the entity-decoded text.
_SCRIPT_URLS: Final = re.compile(
    "|".join(
        _spaced(scheme)
        for scheme in (
            "javascript:",
            "vbscript:",
            "data:text/html",
            "data:application/xhtml+xml",
            "data:text/javascript",
            "data:application/javascript",
            "data:application/x-javascript",
            "data:application/ecmascript",
        )
    )
)

#: HTML inside binary media: element names a page needs, then the generic tag rules.
_POLYGLOT_RULES: Final[tuple[re.Pattern[str], ...]] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        rf"<{_NS}(?:script|html|head|body|iframe|frame|frameset|object|embed|applet|"
        rf"form|meta|base){_END}",
        r"<!doctype\s+html",
        r"<\?xml-stylesheet",
        r"""<[a-z][\w:.-]*[^<>]{0,400}?[\s/"']on[a-z]{3,}\s*=""",
        r"<[a-z][\w:.-]*[^<>]{0,400}?(?:java|vb)script:",
    )
)


def is_markup_document(mime: str) -> bool:
    """SVG and XML types: documents whose text is inspected whole."""
    name = canonical(mime)
    return name == "application/xml" or name.endswith("+xml")


def declared_active_content(content_type: str, extension: str) -> str | None:
    """What makes a declared upload active (its type or its extension), or None."""
    if canonical(content_type) in ACTIVE_TYPES:
        return f"{canonical(content_type)} is executable in a browser"
    by_extension = types_for_extension(extension)
    if by_extension and by_extension[0] in ACTIVE_TYPES:
        return f".{extension} files are executable in a browser"
    if extension in _SERVER_SCRIPTS:
        return f".{extension} files are executable by a web server"
    return None


def active_content(
    sample: bytes, *, declared: str | None, detected: str | None, size: int, extension: str = ""
) -> str | None:
    """Why the stored object is active content (a quarantine detail), or None.

    *sample* is the object's first bytes as read; *size* its stored size.
    """
    kinds = [canonical(t) for t in (declared, detected) if t]
    for kind in kinds:
        if kind in ACTIVE_TYPES:
            return f"{kind} is executable in a browser"
    found = declared_active_content("", extension) if extension else None
    if found:
        return found
    markup = [k for k in kinds if is_markup_document(k)]
    if markup:
        kind = "image/svg+xml" if "image/svg+xml" in markup else markup[0]
        if len(sample) < size:
            return (
                f"{kind} not fully inspected ({len(sample)} of {size} bytes read; "
                f"markup documents are inspected whole up to {MARKUP_SCAN_BYTES} bytes)"
            )
        found = _scan_markup(sample)
        if found:
            return f"{found} in {kind}"
    binary = [k for k in kinds if k.startswith(_BINARY_FAMILIES) or k in _BINARY_TYPES]
    if binary and not markup and _scan_polyglot(sample):
        return f"HTML markup behind {binary[0]}"
    return None


def _scan_markup(sample: bytes) -> str | None:
    for text in markup_readings(sample):
        low = text.lower()
        for pattern, context, label in _MARKUP_RULES:
            for match in pattern.finditer(low):
                if _in_context(low, match.start(), context):
                    return label
        url = _SCRIPT_URLS.search(html.unescape(text).lower())
        if url:
            scheme = "".join(ch for ch in url.group(0) if ch > " ")
            return f"a {scheme} URL"
    return None


def _in_context(text: str, start: int, context: str | None) -> bool:
    if context is None:
        return True
    before = text[start - 1] if start else ""
    if context == _ATTRIBUTE:
        return before in _ATTRIBUTE_LEAD and before != ""
    if before == "<":
        return True
    if before != ":":  # not "<prefix:name" either
        return False
    position = start - 1
    while position > 0 and text[position - 1] not in _NAME_STOP:
        position -= 1
    return position > 0 and text[position - 1] == "<" and position < start - 1


def _scan_polyglot(sample: bytes) -> bool:
    text = sample.decode("latin-1")
    unescaped = html.unescape(text)
    return any(rule.search(t) for rule in _POLYGLOT_RULES for t in (text, unescaped))
