"""The example's URLs: the page, the upload API, and the local storage's receiver."""

from django.urls import include, path
from uploads import views

# --8<-- [start:urls]
urlpatterns = [
    path("", views.index, name="index"),
    path("login/", views.demo_login, name="demo-login"),
    # rindle's API and Uppy's routes; Uppy's companionEndpoint is "/api/uploads".
    path("api/uploads/", include("rindle_core.web.django.urls")),
    # The local storage's receiver: the browser uploads the bytes here.
    path("files/", include("rindle_core.web.django.receiver_urls")),
]
# --8<-- [end:urls]
