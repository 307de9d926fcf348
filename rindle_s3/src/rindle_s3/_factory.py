"""The ``s3`` storage factory: options in, a ready :class:`S3Storage` out.

boto3 is imported when the factory runs, not when the plugin loads: a
command whose configuration has no ``s3`` storage never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._adapter import S3Storage

__all__ = ["create_storage"]


def create_storage(
    options: Mapping[str, object] | None = None,
    /,
    *,
    base_dir: str | Path | None = None,
    **keywords: object,
) -> S3Storage:
    """Build an :class:`S3Storage` from the options of a ``[storage.NAME]`` table.

    Options: ``bucket`` (required), ``region``, ``endpoint_url``,
    ``addressing_style``, ``profile``, ``aws_access_key_id``,
    ``aws_secret_access_key``, ``aws_session_token``, ``max_attempts``,
    ``connect_timeout``, ``read_timeout`` (see ``docs/storage/s3.md``); from
    Python they may be given as keywords too. *base_dir* is accepted as by
    every factory; no ``s3`` option is a path. Raises
    :class:`~rindle_core.ConfigurationError` naming the offending option.
    """
    from ._adapter import S3Storage
    from ._config import read_options

    bucket, arguments = read_options({**(options or {}), **keywords}, base_dir=base_dir)
    return S3Storage(bucket, **arguments)
