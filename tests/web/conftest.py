"""Fixtures of the upload API's tests: a real broker (SQLite + the memory fake),
an UploadAPI whose every answer is checked against its documented contract,
and one client per mount (the neutral API, Starlette, FastAPI, WSGI, Flask).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from rindle_core import Broker
from rindle_core.models import UploadSession
from rindle_core.web import Action, Request, UploadAPI
from web_support import MOUNTS, AuthorizeLog, ContractCheck, Mounted, mount


@pytest.fixture
def authorize_log() -> AuthorizeLog:
    return []


@pytest.fixture
def authorize(
    authorize_log: AuthorizeLog,
) -> Callable[[Request, Action, str, UploadSession | None], str | None]:
    """The test hook: the caller is whoever ``X-User`` names (no header: refused)."""

    def hook(
        request: Request, action: Action, profile: str, session: UploadSession | None
    ) -> str | None:
        authorize_log.append((action.value, profile, session.id if session else None))
        return request.headers.get("x-user") or None

    return hook


@pytest.fixture
def contract() -> Iterator[ContractCheck]:
    """Records every answer and fails the test if one breaks the documented contract."""
    check = ContractCheck()
    yield check
    check.assert_clean()


@pytest.fixture
def api(
    broker: Broker,
    authorize: Callable[[Request, Action, str, UploadSession | None], str | None],
    contract: ContractCheck,
) -> UploadAPI:
    """The API over profiles ``images`` and ``any``; Uppy uploads go to ``any``."""
    return contract.watch(UploadAPI(broker, authorize=authorize, uppy_profile="any"))


@pytest.fixture(params=MOUNTS)
def client(request: pytest.FixtureRequest, api: UploadAPI) -> Iterator[Mounted]:
    """The API through each mount's own test client, at ``/api/uploads``."""
    with mount(request.param, api) as mounted:
        yield mounted


@pytest.fixture
def neutral(api: UploadAPI) -> Iterator[Mounted]:
    """The API called directly (no framework): for the many input edge cases."""
    with mount("neutral", api) as mounted:
        yield mounted
