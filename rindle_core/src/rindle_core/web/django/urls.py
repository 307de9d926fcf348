"""The upload API's URLs: include them at the prefix the API should live under::

    path("api/uploads/", include("rindle_core.web.django.urls"))

Everything below the prefix is the API's (rindle's routes, Uppy's ``/s3/...``
routes, ``openapi.json``); Uppy's ``companionEndpoint`` is the prefix
without its trailing slash (``reverse("rindle:root").rstrip("/")``).
"""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "rindle"

urlpatterns = [
    path("", views.api, {"path": ""}, name="root"),
    path("<path:path>", views.api, name="api"),
]
