"""Promotion's policy decisions (pure) and type detection."""

from __future__ import annotations

import pytest

from fakes import PNG
from rindle_core import HeadResult, Profile
from rindle_core._promotion import detect_type, policy_violation

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(50)
PDF = b"%PDF-1.7\n" + bytes(50)


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (PDF, "application/pdf"),
        (b"hello", None),
        (b"", None),
    ],
)
def test_detect_type(sample: bytes, expected: str | None) -> None:
    assert detect_type(sample) == expected


def violation(
    profile: Profile,
    filename: str,
    declared: str,
    sample: bytes,
    size: int,
    declared_size: int | None = None,
) -> str | None:
    return policy_violation(
        profile,
        filename=filename,
        declared=declared,
        detected=detect_type(sample),
        head=HeadResult(size=size),
        declared_size=declared_size,
        sample=sample,
    )


IMAGES = Profile(name="img", allow_mime=["image/png", "image/jpeg"], max_bytes=1000, min_bytes=1)


@pytest.mark.parametrize(
    ("filename", "declared", "sample", "size", "reason"),
    [
        ("a.png", "image/png", PNG, 100, None),
        ("a.jpg", "image/jpeg", JPEG, 100, None),
        ("a.png", "image/png", b"plain text", 100, "type_mismatch"),
        ("a.png", "image/png", JPEG, 100, "type_mismatch"),
        ("a.png", "image/png", PNG, 5000, "max_bytes_exceeded"),
        ("a.png", "image/png", PNG, 0, "min_bytes_not_met"),
        ("a.pdf", "application/pdf", PDF, 100, "mime_not_allowed"),
    ],
)
def test_policy(filename: str, declared: str, sample: bytes, size: int, reason: str | None) -> None:
    result = violation(IMAGES, filename, declared, sample, size)
    if reason is None:
        assert result is None
    else:
        assert result is not None and result.startswith(reason)


def test_extension_must_match_the_detected_type() -> None:
    anything = Profile(name="any", require_type_match=True)
    result = violation(anything, "photo.png", "application/octet-stream", JPEG, 60)
    assert result is not None and result.startswith("extension_mismatch")


def test_declared_size_must_match_the_stored_size() -> None:
    result = violation(IMAGES, "a.png", "image/png", PNG, 100, declared_size=99)
    assert result is not None and result.startswith("size_mismatch")


def test_text_types_without_magic_are_accepted() -> None:
    anything = Profile(name="any")
    assert violation(anything, "notes.txt", "text/plain", b"hello", 5) is None
