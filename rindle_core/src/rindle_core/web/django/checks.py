"""System checks (``manage.py check``, and before ``runserver`` and ``migrate``)."""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ImproperlyConfigured

from ..._errors import ConfigurationError
from ._conf import read_settings

__all__ = ["check_settings"]


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: object
) -> list[CheckMessage]:
    """``settings.RINDLE`` is valid (nothing is built or connected to), and has a hook."""
    try:
        rindle = read_settings()
        rindle.config.check_storage_types()
    except (ImproperlyConfigured, ConfigurationError) as exc:
        return [Error(str(exc), id="rindle.E001")]
    if rindle.authorize is None:
        return [
            Warning(
                "settings.RINDLE['AUTHORIZE'] is not set, so the upload API refuses every "
                "request (403 authorization-not-configured)",
                hint="name a function that returns the caller's owner id, e.g. "
                "'myapp.uploads.authorize' (see 'Add uploads to your Django app')",
                id="rindle.W001",
            )
        ]
    return []
