"""Deterministic policy: rindle's own type table, and file names that keep their extension.

Issue 9, "What was seen" 7: the extension-vs-type check read the process-wide
:mod:`mimetypes` table, so ``app.js``, ``song.m4a`` and ``segment.ts`` were
accepted or refused depending on whether anything had called
``mimetypes.init()``; and non-ASCII names (``фото.png``) lost their extension.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rindle_core import ConfigurationError, InvalidProfile, PolicyViolation, Profile
from rindle_core._decisions import (
    check_declared_upload,
    extension_contradicts,
    extension_of,
    mime_allowed,
    same_type_family,
    sanitize_filename,
    storage_key,
)
from rindle_core.config import load_config

_STATE = ("_db", "inited", "types_map", "common_types", "encodings_map", "suffix_map")


@pytest.fixture
def restore_mimetypes() -> Iterator[None]:
    """Put the process-wide mimetypes tables back after a test pollutes them."""
    saved = {name: getattr(mimetypes, name) for name in _STATE if hasattr(mimetypes, name)}
    saved_maps = {name: dict(value) for name, value in saved.items() if isinstance(value, dict)}
    try:
        yield
    finally:
        for name, value in saved.items():
            if name in saved_maps:
                value.clear()
                value.update(saved_maps[name])
            setattr(mimetypes, name, value)


def pollute() -> None:
    """What a host application (or the CLI) may do to the global table."""
    mimetypes.init()
    mimetypes.add_type("text/vnd.trolltech.linguist", ".ts")
    mimetypes.add_type("application/x-evil", ".m4a")
    mimetypes.add_type("application/x-evil", ".js")
    mimetypes.add_type("text/html", ".png")
    mimetypes.types_map[".jpg"] = "text/html"


#: (file name, declared type) pairs that a browser really sends and rindle accepts.
AGREEING = [
    ("app.js", "text/javascript"),
    ("app.js", "application/javascript"),
    ("app.mjs", "text/javascript"),
    ("song.m4a", "audio/mp4"),
    ("song.m4a", "audio/x-m4a"),
    ("song.mp3", "audio/mpeg"),
    ("song.mp3", "audio/mp3"),
    ("voice.opus", "audio/ogg"),
    ("voice.opus", "audio/opus"),
    ("track.flac", "audio/flac"),
    ("take.wav", "audio/wav"),
    ("take.wav", "audio/x-wav"),
    ("segment.ts", "video/mp2t"),
    ("clip.mp4", "video/mp4"),
    ("clip.mov", "video/quicktime"),
    ("clip.webm", "video/webm"),
    ("photo.heic", "image/heic"),
    ("photo.avif", "image/avif"),
    ("photo.webp", "image/webp"),
    ("photo.jpg", "image/jpeg"),
    ("photo.jpeg", "image/pjpeg"),
    ("logo.svg", "image/svg+xml"),
    ("favicon.ico", "image/x-icon"),
    ("report.pdf", "application/pdf"),
    ("report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("sheet.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("deck.pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    ("essay.odt", "application/vnd.oasis.opendocument.text"),
    ("data.csv", "text/csv"),
    ("data.csv", "application/vnd.ms-excel"),
    ("data.csv", "text/plain"),
    ("notes.txt", "text/plain"),
    ("README.md", "text/markdown"),
    ("data.json", "application/json"),
    ("feed.xml", "application/xml"),
    ("feed.xml", "text/xml"),
    ("page.html", "text/html"),
    ("style.css", "text/css"),
    ("bundle.zip", "application/zip"),
    ("bundle.zip", "application/x-zip-compressed"),
    ("backup.tar", "application/x-tar"),
    ("backup.gz", "application/gzip"),
    ("backup.gz", "application/x-gzip"),
    ("backup.7z", "application/x-7z-compressed"),
    ("font.woff2", "font/woff2"),
    ("font.woff", "font/woff"),
    ("font.ttf", "font/ttf"),
    ("font.otf", "font/otf"),
]

#: Pairs the table knows to disagree.
CONTRADICTING = [
    ("photo.png", "image/jpeg"),
    ("photo.jpg", "image/png"),
    ("app.js", "image/png"),
    ("segment.ts", "image/png"),
    ("song.m4a", "image/png"),
    ("page.html", "image/png"),
    ("logo.svg", "image/png"),
    ("report.pdf", "text/plain"),
    ("data.csv", "image/png"),
]


def decisions() -> list[bool]:
    return [extension_contradicts(extension_of(n), t) for n, t in AGREEING + CONTRADICTING]


def expected() -> list[bool]:
    return [False] * len(AGREEING) + [True] * len(CONTRADICTING)


def test_the_table_decides_known_pairs() -> None:
    assert dict(zip(AGREEING + CONTRADICTING, decisions(), strict=True)) == dict(
        zip(AGREEING + CONTRADICTING, expected(), strict=True)
    )


@pytest.mark.usefixtures("restore_mimetypes")
def test_decisions_do_not_change_with_the_global_mimetypes_table() -> None:
    before = decisions()
    mimetypes.init()
    after_init = decisions()
    pollute()
    polluted = decisions()
    assert before == after_init == polluted == expected()


@pytest.mark.usefixtures("restore_mimetypes")
@pytest.mark.parametrize(("filename", "content_type"), AGREEING)
def test_the_door_accepts_agreeing_pairs_whatever_the_global_table(
    filename: str, content_type: str
) -> None:
    profile = Profile(name="strict", require_type_match=True, allow_active_content=True)
    check_declared_upload(profile, filename=filename, content_type=content_type, size=10)
    pollute()
    check_declared_upload(profile, filename=filename, content_type=content_type, size=10)


@pytest.mark.usefixtures("restore_mimetypes")
def test_the_door_refuses_a_contradiction_whatever_the_global_table() -> None:
    profile = Profile(name="strict", require_type_match=True)
    for polluted in (False, True):
        if polluted:
            pollute()
        with pytest.raises(PolicyViolation, match="extension_type_mismatch"):
            check_declared_upload(profile, filename="photo.png", content_type="image/jpeg", size=1)


def test_ts_is_mpeg_ts_and_typescript_only_under_its_own_types() -> None:
    assert not extension_contradicts("ts", "video/mp2t")
    assert not extension_contradicts("ts", "text/x-typescript")
    assert not extension_contradicts("ts", "application/typescript")
    assert extension_contradicts("ts", "text/html")
    assert extension_contradicts("ts", "text/plain")


def test_unknown_extensions_contradict_nothing() -> None:
    assert not extension_contradicts("", "image/png")
    assert not extension_contradicts("xyz123", "image/png")


def test_aliases_are_one_type() -> None:
    assert same_type_family("image/jpeg", "image/pjpeg")
    assert same_type_family("audio/mp4", "audio/x-m4a")
    assert same_type_family("text/javascript", "application/javascript")
    assert same_type_family("application/zip", "application/x-zip-compressed")
    assert not same_type_family("image/png", "image/jpeg")
    assert not same_type_family("text/plain", "text/html")
    assert not same_type_family(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def test_allow_mime_understands_aliases_but_not_families() -> None:
    assert mime_allowed("image/pjpeg", ["image/jpeg"])
    assert mime_allowed("audio/x-m4a", ["audio/mp4"])
    assert mime_allowed("image/png", ["image/*"])
    assert not mime_allowed("video/mp4", ["audio/mp4"])
    assert not mime_allowed("text/html", ["text/plain"])
    assert not mime_allowed("imagex/png", ["image/*"])


# -- file names ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("фото.png", "фото.png"),
        ("写真.png", "写真.png"),
        ("é.png", "é.png"),
        ("e\u0301.png", "é.png"),  # NFKC composes
        ("Ｐｈｏｔｏ．ＰＮＧ", "Photo.PNG"),  # full-width forms fold
        ("My Cat.PNG", "My_Cat.PNG"),
        ("évian 2024 (1).jpg", "évian_2024_1.jpg"),
        ("../../etc/passwd.png", "passwd.png"),
        ("C:\\Users\\me\\фото.png", "фото.png"),
        ("\u202egnp.exe", "gnp.exe"),  # a right-to-left override is a format character
        ("a\u200bb.png", "ab.png"),  # zero-width space
        ("x\x00y\n.png", "xy.png"),
        (".bashrc", "upload.bashrc"),  # a leading dot starts an extension
        (".png", "upload.png"),
        ("😀.png", "upload.png"),
        ("..", "upload"),
        ("", "upload"),
        ("a\u2215b.png", "a_b.png"),  # a division slash is not a separator, but not kept
    ],
)
def test_sanitize_filename(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean


@pytest.mark.parametrize("name", ["фото.png", "写真.png", "é.png", "😀.png", "Ｘ．ｐｎｇ"])
def test_non_ascii_names_keep_their_extension(name: str) -> None:
    assert extension_of(name) == "png"
    profile = Profile(name="img", allow_extensions=["png"], allow_mime=["image/png"])
    check_declared_upload(profile, filename=name, content_type="image/png", size=10)
    key = storage_key(profile, "0" * 32, sanitize_filename(name))
    assert key.isascii()
    assert re.fullmatch(r"img/0{32}/[0-9a-f]{16}\.png", key)


def test_a_long_name_keeps_its_extension() -> None:
    clean = sanitize_filename("я" * 500 + ".jpeg")
    assert clean.endswith(".jpeg") and len(clean) <= 200
    assert sanitize_filename(clean) == clean


def test_a_non_ascii_extension_is_no_extension() -> None:
    assert extension_of("файл.пнг") == ""
    assert storage_key(Profile(name="p"), "0" * 32, "файл.пнг").count(".") == 0


ASCII_EXT = st.from_regex(r"[A-Za-z0-9]{1,16}", fullmatch=True)


@given(st.text())
@example("\u202e")
@example("e\u200d\u0301")  # removing the joiner must not leave an uncomposed pair
@example("\u2100.png")  # "a/c" under NFKC
def test_sanitized_names_are_safe_and_stable(raw: str) -> None:
    clean = sanitize_filename(raw)
    assert clean
    assert "/" not in clean and "\\" not in clean
    assert not clean.startswith(".")
    assert all(ch.isprintable() and not ch.isspace() for ch in clean)
    assert len(clean) <= 200
    assert sanitize_filename(clean) == clean


@given(st.text(), ASCII_EXT)
@example("", "png")
@example("a/", "png")
@example("😀", "PNG")
@example("x\u0301", "png")
def test_an_ascii_extension_always_survives(stem: str, ext: str) -> None:
    name = f"{stem}.{ext}"
    assert sanitize_filename(name).endswith("." + ext)
    assert extension_of(name) == ext.lower()
    assert storage_key(Profile(name="p"), "0" * 32, sanitize_filename(name)).endswith(
        "." + ext.lower()
    )


# -- the profile switch ----------------------------------------------------------


def test_allow_active_content_is_off_by_default_and_a_boolean() -> None:
    assert Profile(name="p").allow_active_content is False
    assert Profile(name="p", allow_active_content=True).allow_active_content is True
    with pytest.raises(InvalidProfile, match="allow_active_content"):
        Profile(name="p", allow_active_content="yes")  # type: ignore[arg-type]


def test_allow_active_content_is_a_toml_key(tmp_path: Path) -> None:
    base = 'database_url = "sqlite:///r.db"\n[storage.s]\ntype = "local"\n[profiles.web]\n'
    path = tmp_path / "rindle.toml"
    path.write_text(base + "allow_active_content = true\n")
    assert load_config(path).profile("web").allow_active_content is True
    path.write_text(base + 'allow_active_content = "yes"\n')
    with pytest.raises(ConfigurationError, match="allow_active_content"):
        load_config(path)
