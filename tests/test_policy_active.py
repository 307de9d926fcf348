"""Active content is quarantined unless the profile allows it.

Issue 9, "What was seen" 8: an SVG carrying ``<script>`` declared
``image/svg+xml`` on an ``image/*`` profile, and a PNG header followed by
HTML, both ended ``available``. These tests upload through ``rindle
upload`` (the local backend: real HTTP to the receiver, real promotion) and
check the pure rule on real files built in the test.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import policy_samples as samples
import pytest
from click.testing import Result
from hypothesis import given
from hypothesis import strategies as st

from rindle_core import HeadResult, PolicyViolation, Profile
from rindle_core._decisions import check_declared_upload
from rindle_core._promotion import SNIFF_BYTES, detect_type, policy_violation, sniff_length

Run = Callable[..., Result]

SCRIPTED_SVG = b"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">
  <rect width="10" height="10" fill="red"/>
  <script>alert(document.domain)</script>
</svg>
"""

CLEAN_SVG = b"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!-- Created with Inkscape (http://www.inkscape.org/) -->
<svg xmlns:dc="http://purl.org/dc/elements/1.1/"
   xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
   xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
   xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"
   xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"
   width="210mm" height="297mm" viewBox="0 0 210 297" version="1.1" id="svg8"
   inkscape:version="1.0 (4035a4f, 2020-05-01)" sodipodi:docname="drawing.svg">
  <metadata id="metadata5"><rdf:RDF><dc:format>image/svg+xml</dc:format>
  <dc:title>Script notes on the body of the frame</dc:title></rdf:RDF></metadata>
  <style>.a { fill: url(#grad); font-family: "Online Sans"; }</style>
  <defs><linearGradient id="grad"><stop offset="0" stop-color="#fff"/></linearGradient></defs>
  <a href="https://example.com/about"><text x="10" y="20" class="a">About the onion</text></a>
  <image width="4" height="4" href="data:image/png;base64,iVBORw0KGgo="/>
  <use xlink:href="#grad"/>
</svg>
"""

IMAGES = """
    database_url = "sqlite:///rindle.db"
    [storage.files]
    type = "local"
    root = "./objects"
    [profiles.images]
    storage = "files"
    allow_mime = ["image/*"]
    [profiles.drawings]
    storage = "files"
    allow_mime = ["image/svg+xml"]
    allow_active_content = true
    [profiles.anything]
    storage = "files"
"""


def configure(run: Run, tmp_path: Path) -> None:
    if not (tmp_path / "rindle.toml").exists():
        (tmp_path / "rindle.toml").write_text(textwrap.dedent(IMAGES))
        run("db", "upgrade")


def upload(run: Run, tmp_path: Path, name: str, data: bytes, *args: str) -> dict[str, Any]:
    configure(run, tmp_path)
    (tmp_path / name).write_bytes(data)
    result = run("upload", name, "--profile", "images", *args, "--json")
    asset: dict[str, Any] = json.loads(result.stdout)["asset"]
    return asset


# -- end to end -----------------------------------------------------------------


def test_a_scripted_svg_is_quarantined(run: Run, tmp_path: Path) -> None:
    asset = upload(run, tmp_path, "logo.svg", SCRIPTED_SVG, "--content-type", "image/svg+xml")
    assert asset["state"] == "quarantined"
    assert asset["quarantine_reason"].startswith("active_content: <script>")


def test_html_behind_a_png_header_is_quarantined(run: Run, tmp_path: Path) -> None:
    asset = upload(run, tmp_path, "cat.png", samples.polyglot(samples.png()))
    assert asset["state"] == "quarantined"
    assert asset["quarantine_reason"].startswith("active_content: HTML markup")


def test_a_clean_svg_and_a_real_png_are_available(run: Run, tmp_path: Path) -> None:
    assert upload(run, tmp_path, "logo.svg", CLEAN_SVG)["state"] == "available"
    assert upload(run, tmp_path, "cat.png", samples.png(xmp=True))["state"] == "available"


def test_a_profile_that_allows_active_content_keeps_a_scripted_svg(
    run: Run, tmp_path: Path
) -> None:
    configure(run, tmp_path)
    (tmp_path / "logo.svg").write_bytes(SCRIPTED_SVG)
    result = run("upload", "logo.svg", "--profile", "drawings", "--json")
    asset = json.loads(result.stdout)["asset"]
    assert asset["state"] == "available"
    assert asset["content_type"] == "image/svg+xml"


def test_html_is_refused_at_the_door(run: Run, tmp_path: Path) -> None:
    configure(run, tmp_path)
    (tmp_path / "page.html").write_bytes(b"<!doctype html><p>hi")
    result = run("upload", "page.html", "--profile", "anything", code=1)
    assert "active_content" in result.stderr


# -- the rule, on real files -----------------------------------------------------

ANY = Profile(name="any")
MEDIA = Profile(name="media", allow_mime=["image/*", "audio/*", "video/*", "application/pdf"])


def verdict(
    data: bytes, declared: str | None, filename: str = "f", profile: Profile = ANY
) -> str | None:
    sample = data[: sniff_length(declared, len(data))]
    return policy_violation(
        profile,
        filename=filename,
        declared=declared,
        detected=detect_type(sample),
        head=HeadResult(size=len(data)),
        declared_size=len(data),
        sample=sample,
    )


REAL = [
    ("a.png", "image/png", samples.png()),
    ("a.png", "image/png", samples.png(xmp=True)),
    ("a.jpg", "image/jpeg", samples.jpeg()),
    ("a.jpg", "image/jpeg", samples.jpeg(xmp=True, comment=b"Shot on a <b>good</b> day")),
    ("a.gif", "image/gif", samples.gif()),
    ("a.webp", "image/webp", samples.webp()),
    ("a.pdf", "application/pdf", samples.pdf()),
    ("a.mp4", "video/mp4", samples.mp4()),
    ("a.m4a", "audio/mp4", samples.mp4(b"M4A ", b"M4A mp42isom")),
    ("a.m4a", "audio/x-m4a", samples.mp4(b"mp42", b"mp42isom")),
    ("a.mov", "video/quicktime", samples.mp4(b"qt  ", b"qt  ")),
    ("a.heic", "image/heic", samples.mp4(b"heic", b"mif1heic")),
    ("a.avif", "image/avif", samples.mp4(b"avif", b"avifmif1miaf")),
    ("a.wav", "audio/wav", samples.wav()),
    ("a.opus", "audio/ogg", samples.ogg_opus()),
    ("a.opus", "audio/opus", samples.ogg_opus()),
    ("a.webm", "video/webm", samples.webm()),
    ("a.ts", "video/mp2t", samples.mpeg_ts()),
    ("logo.svg", "image/svg+xml", CLEAN_SVG),
]


@pytest.mark.parametrize(("filename", "declared", "data"), REAL)
def test_real_files_pass(filename: str, declared: str, data: bytes) -> None:
    assert verdict(data, declared, filename, MEDIA) is None


def test_html_in_an_uncompressed_pdf_text_is_quarantined() -> None:
    """The documented false positive: PDF text streams are usually compressed."""
    reason = verdict(samples.pdf(text="see the <script> tag"), "application/pdf")
    assert reason == "active_content: HTML markup behind application/pdf"


@given(st.integers(0, 2**32), st.integers(1, 48), st.booleans())
def test_random_pngs_and_jpegs_pass(seed: int, side: int, xmp: bool) -> None:
    assert verdict(samples.png(side, side, seed=seed, xmp=xmp), "image/png", "a.png") is None
    assert verdict(samples.jpeg(seed=seed, xmp=xmp, icc=side * 100), "image/jpeg") is None


POLYGLOT_MARKUP = [
    b"<html><body>hi</body></html>",
    b"<script>alert(1)</script>",
    b"<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    b"<!DOCTYPE html><title>x</title>",
    b"<iframe src=//evil.example>",
    b"<img src=x onerror=alert(1)>",
    b"<svg/onload=alert(1)>",
    b'<?xml-stylesheet type="text/xsl" href="evil.xsl"?>',
    b"<a href='javascript:alert(1)'>x</a>",
]


@pytest.mark.parametrize("markup", POLYGLOT_MARKUP)
@pytest.mark.parametrize(
    ("declared", "real"),
    [
        ("image/png", samples.png()),
        ("image/jpeg", samples.jpeg()),
        ("image/gif", samples.gif()),
        ("application/pdf", samples.pdf()),
        ("video/mp4", samples.mp4()),
        ("audio/wav", samples.wav()),
    ],
)
def test_markup_behind_a_real_header_is_quarantined(
    declared: str, real: bytes, markup: bytes
) -> None:
    reason = verdict(samples.polyglot(real, markup), declared)
    assert reason is not None and reason.startswith("active_content: HTML markup")


SCRIPTED_SVGS = {
    "script": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "namespaced script": b'<s:svg xmlns:s="http://www.w3.org/2000/svg"><s:script>x</s:script>',
    "long prefix": b"<svg><" + b"p" * 300 + b':script xmlns:ppp="http://www.w3.org/2000/svg">',
    "prefix with a middle dot": "<svg><a·b:script>x</a·b:script></svg>".encode(),
    "upper case": b"<svg><SCRIPT >alert(1)</SCRIPT></svg>",
    "self-closing script": b'<svg><script href="//evil.example/x.js"/></svg>',
    "onload": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    "onclick after slash": b"<svg><rect/onclick=alert(1) /></svg>",
    "javascript url": b'<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "encoded javascript url": b'<svg><a href="&#106;ava&#x73;cript:alert(1)">x</a></svg>',
    "split javascript url": b'<svg><a href="java\tscript:alert(1)">x</a></svg>',
    "data html url": b'<svg><a href="data:text/html,&lt;script&gt;">x</a></svg>',
    "foreignObject": b"<svg><foreignObject><div>hi</div></foreignObject></svg>",
    "entity": b'<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg>&x;</svg>',
    "stylesheet": b'<?xml-stylesheet href="x.xsl" type="text/xsl"?><svg/>',
    "animate to handler": b'<svg><set attributeName="onmouseover" to="alert(1)"/></svg>',
    "iframe": b'<svg><iframe src="https://evil.example"/></svg>',
    "utf-16": "<svg><script>alert(1)</script></svg>".encode("utf-16"),
    "utf-16 without a BOM, mostly CJK": (
        '<?xml version="1.0" encoding="UTF-16"?><svg><text>'
        + "漢字" * 200
        + "</text><script>alert(1)</script></svg>"
    ).encode("utf-16-le"),
}


@pytest.mark.parametrize("data", SCRIPTED_SVGS.values(), ids=SCRIPTED_SVGS.keys())
@pytest.mark.parametrize("declared", ["image/svg+xml", "application/xml", None])
def test_scripted_svgs_are_quarantined(data: bytes, declared: str | None) -> None:
    reason = verdict(data, declared, "x.svg", ANY)
    assert reason is not None and reason.startswith("active_content:"), reason


def test_words_are_not_markup() -> None:
    text = b"<svg><text>A transcript of the description; JavaScript files; on = off</text></svg>"
    assert verdict(text, "image/svg+xml", "a.svg") is None


def test_script_hidden_past_the_first_bytes_of_an_svg_is_found() -> None:
    data = b"<svg>" + b"<!--" + b" " * (SNIFF_BYTES * 2) + b"--><script>alert(1)</script></svg>"
    assert sniff_length("image/svg+xml", len(data)) == len(data)
    reason = verdict(data, "image/svg+xml")
    assert reason is not None and reason.startswith("active_content: <script>")


def test_an_svg_larger_than_the_scan_limit_is_quarantined() -> None:
    data = b"<svg>" + b" " * 100 + b"</svg>"
    reason = policy_violation(
        ANY,
        filename="big.svg",
        declared="image/svg+xml",
        detected="image/svg+xml",
        head=HeadResult(size=len(data) + 10_000_000),
        declared_size=None,
        sample=data,
    )
    assert reason is not None and reason.startswith("active_content: image/svg+xml not fully")


@pytest.mark.parametrize(
    ("declared", "data"),
    [
        ("text/html", b"<p>hello</p>"),
        ("application/xhtml+xml", b'<html xmlns="http://www.w3.org/1999/xhtml"/>'),
        ("text/javascript", b"alert(1)"),
        ("application/javascript", b"alert(1)"),
        ("text/plain", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
        ("application/octet-stream", b"<!doctype html><script>alert(1)</script>"),
    ],
)
def test_active_types_are_quarantined(declared: str, data: bytes) -> None:
    reason = verdict(data, declared)
    assert reason is not None and reason.startswith("active_content:")


def test_allow_active_content_lets_them_through() -> None:
    allowed = Profile(name="web", allow_active_content=True)
    assert verdict(SCRIPTED_SVGS["script"], "image/svg+xml", "x.svg", allowed) is None
    assert verdict(b"<p>hello</p>", "text/html", "x.html", allowed) is None
    polyglot = samples.polyglot(samples.png())
    assert verdict(polyglot, "image/png", "x.png", allowed) is None


@pytest.mark.parametrize(
    ("declared", "data"),
    [
        ("text/plain", b"Use <script> tags carefully; online=yes"),
        ("text/markdown", b'<div align="center"><img src="logo.png"></div>\n# Title'),
        ("text/markdown", b"<!-- comment -->\n# Title\n"),
        ("text/csv", b"name,html\nbob,<script>\n"),
        ("application/json", b'{"html": "<script>alert(1)</script>"}'),
        ("application/zip", samples.polyglot(b"PK\x03\x04" + bytes(60), b"<html>")),
    ],
)
def test_text_and_archives_are_not_scanned(declared: str, data: bytes) -> None:
    assert verdict(data, declared) is None


@pytest.mark.parametrize(
    ("content_type", "filename"),
    [
        ("text/html", "page.html"),
        ("application/xhtml+xml", "page.xhtml"),
        ("text/javascript", "app.js"),
        ("application/x-javascript", "app.js"),
        ("application/octet-stream", "page.htm"),
        ("text/plain", "page.html"),
        ("image/png", "shell.php"),
        ("application/octet-stream", "x.aspx"),
    ],
)
def test_active_types_and_extensions_are_refused_at_the_door(
    content_type: str, filename: str
) -> None:
    lax = Profile(name="lax", require_type_match=False)
    with pytest.raises(PolicyViolation) as refused:
        check_declared_upload(lax, filename=filename, content_type=content_type, size=10)
    assert refused.value.reason == "active_content"
    allowed = Profile(name="web", allow_active_content=True, require_type_match=False)
    check_declared_upload(allowed, filename=filename, content_type=content_type, size=10)


def test_svg_is_decided_on_its_content_not_at_the_door() -> None:
    check_declared_upload(ANY, filename="logo.svg", content_type="image/svg+xml", size=10)
