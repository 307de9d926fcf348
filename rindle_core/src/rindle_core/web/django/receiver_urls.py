"""The local storage's receiver, for projects that keep uploads on local disk::

    path("files/", include("rindle_core.web.django.receiver_urls"))

The storage's ``base_url`` is that prefix's absolute URL
(``"https://example.com/files"``). Uploads to it are authorized by the
signature in their URL, not by Django's session or CSRF token.
"""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "rindle_receiver"

urlpatterns = [
    path("<path:path>", views.receiver, name="receiver"),
]
