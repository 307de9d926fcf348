"""What the Django tests share: the hook and URLconf their settings name, users, ``RINDLE``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from rindle_core.models import UploadSession
from rindle_core.web import Action, Denied, Request
from rindle_core.web.django import django_request

#: Whether Django's connection was inside a transaction when the hook ran, per call.
IN_TRANSACTION: list[bool] = []


def authorize(
    request: Request, action: Action, profile: str, session: UploadSession | None
) -> str | None:
    """The signed-in Django user's id; anonymous callers are told to sign in."""
    IN_TRANSACTION.append(transaction.get_connection().in_atomic_block)
    user = django_request(request).user
    if not user.is_authenticated:
        raise Denied("sign in first", status=401)
    return str(user.pk)


NOT_A_FUNCTION = "authorize"


def atomic_probe(request: HttpRequest) -> JsonResponse:
    """A plain view: is it inside ATOMIC_REQUESTS' transaction? (the control case)"""
    return JsonResponse({"in_transaction": transaction.get_connection().in_atomic_block})


urlpatterns = [
    path("api/uploads/", include("rindle_core.web.django.urls")),
    path("files/", include("rindle_core.web.django.receiver_urls")),
    path("probe/", atomic_probe),
]


def make_user(name: str) -> object:
    """A Django user (committed: no test here runs inside a transaction)."""
    return get_user_model().objects.create_user(username=name)


def rindle_settings(root: Path, base_url: str, alias: str, **extra: Any) -> dict[str, Any]:
    """``settings.RINDLE`` for the tests: two profiles on one local storage."""
    return {
        "STORAGE": {"files": {"type": "local", "root": str(root), "base_url": base_url}},
        "PROFILES": {
            "uploads": {"storage": "files", "max_bytes": "10 MiB"},
            "images": {"storage": "files", "allow_mime": ["image/png"]},
        },
        "DATABASE": alias,
        "AUTHORIZE": "web_django_support.authorize",
        "UPPY_PROFILE": "uploads",
        **extra,
    }
