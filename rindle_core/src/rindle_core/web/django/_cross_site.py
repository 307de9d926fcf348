"""Which requests a browser sent from another site: refused in place of a CSRF token.

The upload API is exempt from Django's CSRF token check (Uppy sends no
token, and a token would not cover ``GET /s3/params``, which starts an
upload). A browser says where a request comes from: ``Sec-Fetch-Site``,
else ``Origin``. See ADR 0107 and the Django guide, *Cross-site requests*.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest

__all__ = ["cross_site_refusal"]


def cross_site_refusal(request: HttpRequest) -> str | None:
    """Why *request* is refused as a browser's request from another site, or None.

    From this origin it passes; from another one only if that origin is in
    ``settings.CSRF_TRUSTED_ORIGINS``. A request that says neither (a
    non-browser client) passes: the ``authorize`` hook decides.
    """
    site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
    origin = request.headers.get("Origin", "").strip()
    if site in ("same-origin", "none"):
        return None
    if not site and (not origin or origin == _own_origin(request)):
        return None
    if origin and origin in getattr(settings, "CSRF_TRUSTED_ORIGINS", ()):
        return None
    return (
        "a request from another site is refused: serve the page from this origin, "
        "or add its origin to CSRF_TRUSTED_ORIGINS"
    )


def _own_origin(request: HttpRequest) -> str | None:
    try:
        return f"{request.scheme}://{request.get_host()}"
    except DisallowedHost:
        return None
