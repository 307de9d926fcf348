"""Who may upload: the ``authorize`` hook ``settings.RINDLE["AUTHORIZE"]`` names."""

from rindle_core import UploadSession
from rindle_core.web import Action, Denied, Request
from rindle_core.web.django import django_request


def authorize(
    request: Request, action: Action, profile: str, session: UploadSession | None
) -> str | None:
    """The signed-in user's id: rindle stores it as the upload's owner, and
    answers any other user's uploads as if they did not exist."""
    user = django_request(request).user
    if not user.is_authenticated:
        raise Denied("sign in first", status=401)
    return str(user.pk)
