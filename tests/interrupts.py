"""Ctrl-C in the middle of a multipart upload, for the ``--resume`` tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from rindle_core.client import UploadClient

_UPLOAD_PARTS = UploadClient.upload_parts


def interrupt_after(monkeypatch: pytest.MonkeyPatch, parts: int, signed: list[int]) -> None:
    """Sign one part at a time; the signature after the first *parts* raises Ctrl-C.

    *signed* collects the part numbers signed before the interruption.
    """

    def upload_parts(self: UploadClient, path: Any, **kwargs: Any) -> Any:
        sign = kwargs.pop("sign")

        def counting(numbers: Sequence[int], *checksums: Sequence[str]) -> Any:
            if len(signed) >= parts:
                raise KeyboardInterrupt
            signed.extend(numbers)
            return sign(numbers, *checksums)

        kwargs.update(concurrency=1, sign_batch=1)
        return _UPLOAD_PARTS(self, path, sign=counting, **kwargs)

    monkeypatch.setattr(UploadClient, "upload_parts", upload_parts)
