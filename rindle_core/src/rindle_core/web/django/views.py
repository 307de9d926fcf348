"""The views: the upload API below its URL prefix, and the local storage's receiver.

Both are plain synchronous views (Django runs them in a worker thread under
ASGI). Neither runs in ``ATOMIC_REQUESTS``' transaction: rindle commits
through its own connection, and a transaction held open on Django's would
only block it (on SQLite, where one writer at a time holds the lock).

Both are exempt from Django's CSRF token check: the receiver's uploads are
authorized by their signature, and the API refuses requests from other
sites itself (:func:`~._cross_site.cross_site_refusal`), since Uppy sends
no token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from ..._errors import RindleError
from .. import _problems as problems
from .._http import Response
from .._problems import problem_for, problem_response
from ._convert import run_wsgi, to_django, to_request
from ._cross_site import cross_site_refusal
from ._runtime import runtime

__all__ = ["api", "receiver"]

logger = logging.getLogger("rindle_core.web")

_View = Callable[..., HttpResponseBase]


def _outside_transactions(view: _View) -> _View:
    """*view* exempt from CSRF tokens and from every alias's ``ATOMIC_REQUESTS``."""
    for alias in connections:
        view = transaction.non_atomic_requests(using=alias)(view)
    return csrf_exempt(view)


def _api(request: HttpRequest, path: str = "") -> HttpResponse:
    """The upload API: *path* is the part of the URL below the prefix it is included at."""
    try:
        upload_api = runtime.api()
    except (RindleError, ImproperlyConfigured) as exc:
        return to_django(_unavailable("the upload API", exc))
    refusal = cross_site_refusal(request)
    if refusal is not None:
        return to_django(problem_response(problems.FORBIDDEN, refusal))
    declared = request.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > upload_api.max_body:
        return to_django(upload_api.payload_too_large())
    return to_django(upload_api.handle(to_request(request, path, upload_api.max_body)))


def _receiver(request: HttpRequest, path: str = "") -> HttpResponseBase:
    """The local storage's receiver (signed uploads and downloads), as a view."""
    try:
        app = runtime.receiver()
    except (RindleError, ImproperlyConfigured) as exc:
        _unavailable("the upload receiver", exc)
        return HttpResponse(status=500)
    return run_wsgi(app, request, path)


api: Final = _outside_transactions(_api)
receiver: Final = _outside_transactions(_receiver)


def _unavailable(what: str, exc: RindleError | ImproperlyConfigured) -> Response:
    """The problem answered while *what* cannot be built; the reason goes to the log."""
    logger.error("rindle: %s is not available: %s", what, exc)
    if isinstance(exc, RindleError):
        return problem_for(exc)
    return problem_response(problems.MISCONFIGURED, problems.MISCONFIGURED.fixed_detail or "")
