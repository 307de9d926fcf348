"""The example's page (Uppy) and a demo sign-in."""

from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST


def index(request: HttpRequest) -> HttpResponse:
    """The upload page; Uppy's companionEndpoint is the API's prefix, without its slash."""
    endpoint = reverse("rindle:root").rstrip("/")
    return render(request, "uploads/index.html", {"endpoint": endpoint})


@require_POST
def demo_login(request: HttpRequest) -> HttpResponse:
    """DEMO ONLY: signs anyone in under the name they type. Use your project's real login."""
    name = request.POST.get("username", "").strip()[:150]
    if name:
        user, _ = get_user_model().objects.get_or_create(username=name)
        login(request, user)
    return redirect("index")
