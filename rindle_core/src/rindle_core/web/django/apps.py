"""The Django app: ``"rindle_core.web.django"`` in ``INSTALLED_APPS`` (label ``rindle``)."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.core.signals import setting_changed

from ._conf import SETTING


class RindleConfig(AppConfig):
    """rindle's upload API, its migration and its system checks."""

    name = "rindle_core.web.django"
    label = "rindle"
    verbose_name = "rindle uploads"

    def ready(self) -> None:
        from .checks import check_settings

        checks.register(check_settings, "rindle")
        setting_changed.connect(_settings_changed, dispatch_uid="rindle-settings-changed")


def _settings_changed(*, setting: str, **kwargs: object) -> None:
    """A new ``settings.RINDLE`` (``override_settings``): build anew on next use."""
    if setting == SETTING:
        from ._runtime import runtime

        runtime.reset()
