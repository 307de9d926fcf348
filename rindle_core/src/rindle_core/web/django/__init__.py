"""rindle's upload API in a Django project: settings-driven, with a migration for its tables.

Needs the ``django`` extra. In ``settings.py``::

    INSTALLED_APPS = [..., "rindle_core.web.django"]
    RINDLE = {
        "CONFIG": BASE_DIR / "rindle.toml",          # or rindle.toml's keys inline
        "AUTHORIZE": "uploads.access.authorize",     # the hook: the caller's owner id
    }

and in ``urls.py``::

    path("api/uploads/", include("rindle_core.web.django.urls")),
    path("files/", include("rindle_core.web.django.receiver_urls")),   # local storage only

``manage.py migrate`` creates rindle's tables in the database of
``RINDLE["DATABASE"]`` (``"default"``), and so does the test runner in the
test database. The broker is built on first use, once per process.
"""

from __future__ import annotations

from django.http import HttpRequest

from ..._broker import Broker
from .._api import UploadAPI
from .._http import Request
from ._runtime import runtime

__all__ = ["django_request", "get_api", "get_broker"]


def get_broker() -> Broker:
    """The project's broker (built from ``settings.RINDLE`` on first use), for your own views."""
    return runtime.broker()


def get_api() -> UploadAPI:
    """The project's upload API, as the views serve it."""
    return runtime.api()


def django_request(request: Request) -> HttpRequest:
    """The Django request behind the neutral *request* the ``authorize`` hook is given."""
    native = request.native
    if not isinstance(native, HttpRequest):
        raise TypeError("this request did not come through rindle's Django views")
    return native
