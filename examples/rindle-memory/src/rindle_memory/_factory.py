"""The ``memory`` storage factory: a ``[storage.NAME]`` table in, a :class:`MemoryStorage` out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from rindle_core.plugins import Options

from ._adapter import MemoryStorage

__all__ = ["OPTIONS", "create_storage"]

#: The options of a ``type = "memory"`` storage.
OPTIONS: Final = ("endpoint_url", "bucket", "secret", "secret_file", "multipart", "timeout")


def create_storage(options: Mapping[str, object], /, *, base_dir: Path) -> MemoryStorage:
    """Build a :class:`MemoryStorage` from the options of one configured storage.

    ``endpoint_url`` and ``bucket`` are required, and one of ``secret`` or
    ``secret_file`` (a path, relative to *base_dir*); ``multipart``
    (default true) and ``timeout`` (seconds, default 10) are optional.
    Raises :class:`~rindle_core.ConfigurationError` naming the option.
    """
    read = Options(options, known=OPTIONS, base_dir=base_dir)
    endpoint_url = read.string("endpoint_url", required=True)
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise read.error("endpoint_url", "must be an http(s) URL")
    secret = read.string("secret")
    secret_file = read.path("secret_file", kind="file")
    if secret is not None and secret_file is not None:
        raise read.error("secret", "and 'secret_file' exclude each other")
    if secret_file is not None:
        try:
            secret = secret_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            raise read.error("secret_file", "cannot be read as UTF-8 text") from None
        if not secret:
            raise read.error("secret_file", "names an empty file")
    if secret is None:
        raise read.error("secret", "or 'secret_file' is required")
    return MemoryStorage(
        endpoint_url,
        read.string("bucket", required=True),
        secret=secret,
        multipart=read.boolean("multipart", True),
        timeout=read.seconds("timeout", 10.0, maximum=300),
    )
