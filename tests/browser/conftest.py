"""Fixtures of the browser suite: real Uppy (the committed bundle) in headless
Chromium (Debian's ``chromium``, driven by Playwright from PyPI), uploading
through rindle's upload API to the local backend and to moto.

The suite is skipped, with the reason, only when Playwright or Chromium is
not installed; ``RINDLE_REQUIRE_BROWSER=1`` (set by ``nox -s tests`` once it
has installed them) turns that skip into a failure. ``RINDLE_CHROMIUM``
names another Chromium binary.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import attrs
import pluggy
import pytest
from browser_stack import Clock, Stack, authorize
from uppy_server import WebServer

from rindle_core import Broker, Database, Profile
from rindle_core.local import LocalStorage, serve_receiver
from rindle_core.storage import MultipartStorage
from rindle_core.testing import CheckingFront
from rindle_core.web import UploadAPI

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
PLAYWRIGHT_MISSING = "Playwright is not installed (pip install playwright; nox -s tests does)"
#: How long a page may take for any one step (an upload included), in milliseconds.
STEP_TIMEOUT_MS = 30_000


def _chromium() -> str | None:
    """The Chromium binary: ``RINDLE_CHROMIUM`` if set, else ``chromium`` on the PATH."""
    named = os.environ.get("RINDLE_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _missing() -> str | None:
    """Why the browser suite cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return PLAYWRIGHT_MISSING
    if _chromium() is None:
        return (
            "Chromium is not installed (apt-get install chromium; nox -s tests does as root "
            "on Debian) and RINDLE_CHROMIUM names no binary"
        )
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests that need the browser, with the reason, when it is missing."""
    needing = [item for item in items if "chromium" in getattr(item, "fixturenames", ())]
    reason = _missing() if needing else None
    if reason is None:
        return
    if os.environ.get("RINDLE_REQUIRE_BROWSER") == "1":
        raise pytest.UsageError(f"{reason}, and RINDLE_REQUIRE_BROWSER=1")
    for item in needing:
        item.add_marker(pytest.mark.skip(reason=reason))


# -- the S3-compatible server: rindle_s3's own fixtures ------------------------------


def _s3_test_servers() -> ModuleType:
    """rindle_s3's test conftest (moto on 127.0.0.1, its signature-checking front),
    loaded under a name of its own so its fixtures serve this directory too.
    Its directory goes last on ``sys.path`` for the helper modules it imports."""
    folder = ROOT / "rindle_s3" / "tests"
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    spec = importlib.util.spec_from_file_location("rindle_s3_test_servers", folder / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_S3 = _s3_test_servers()
_isolated_aws_env = _S3._isolated_aws_env
s3_endpoint = _S3.s3_endpoint
admin_client = _S3.admin_client
bucket = _S3.bucket
make_storage = _S3.make_storage


@pytest.fixture(scope="module")
def cors_front(s3_endpoint: str) -> Iterator[CheckingFront]:
    """moto behind a front that checks presigned URLs as S3 does (rindle_s3's
    check); the front passes preflights unchecked, as S3 answers them from the
    bucket's CORS."""
    front = CheckingFront(s3_endpoint, marker="X-Amz-Signature=", refuse=_S3._s3_refusal)
    yield front
    front.close()


@attrs.frozen
class _Backend:
    storage: MultipartStorage
    url: str
    admin: Any = None
    bucket: str | None = None


def _local(root: Path, origin: str, closers: list[Callable[[], None]]) -> _Backend:
    """The local backend, its receiver on 127.0.0.1 letting *origin* upload."""
    receiver = serve_receiver(root, allow_origins=[origin])
    closers.append(receiver.close)
    return _Backend(LocalStorage(root, base_url=receiver.url, fsync=False), receiver.url)


def _s3(request: pytest.FixtureRequest, origin: str) -> _Backend:
    """A new bucket on moto, reached through :func:`cors_front`, letting *origin*
    PUT, POST and GET and read ``ETag`` (docs/web.md, CORS)."""
    front: CheckingFront = request.getfixturevalue("cors_front")
    admin = request.getfixturevalue("admin_client")
    name: str = request.getfixturevalue("bucket")
    rule = {
        "AllowedOrigins": [origin],
        "AllowedMethods": ["GET", "PUT", "POST"],
        "AllowedHeaders": ["Content-Type", "If-None-Match"],
        "ExposeHeaders": ["ETag"],
    }
    admin.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [rule]})
    storage = request.getfixturevalue("make_storage")(name, endpoint_url=front.url)
    return _Backend(storage, front.url, admin, name)


# -- the browser -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Headless Chromium, one per module (and xdist worker)."""
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    assert executable is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


@pytest.fixture(params=["local", "s3"])
def stack(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_db: Database,
    pm: pluggy.PluginManager,
) -> Iterator[Stack]:
    """The upload API on a broker (SQLite) over one backend, served with the page.

    Promotion may wait for a POST policy to expire (S3): the broker's clock
    can be moved past it, with no cleanup grace.
    """
    server = WebServer()
    closers: list[Callable[[], None]] = [server.close]
    try:
        if request.param == "local":
            backend = _local(tmp_path / "objects", server.origin, closers)
        else:
            backend = _s3(request, server.origin)
        clock = Clock()
        broker = Broker(
            sqlite_db,
            profiles=[Profile(name="uploads", storage=request.param)],
            storages={request.param: backend.storage},
            plugin_manager=pm,
            job_mode="inline",
            cleanup_grace=0,
            clock=clock,
        )
        closers.append(broker.close)
        log = server.start(UploadAPI(broker, authorize=authorize))
        yield Stack(
            backend=request.param,
            broker=broker,
            storage=backend.storage,
            storage_url=backend.url,
            origin=server.origin,
            requests=log,
            clock=clock,
            admin=backend.admin,
            bucket=backend.bucket,
        )
    finally:
        for close in reversed(closers):
            close()


@pytest.fixture
def page(chromium: Browser, stack: Stack) -> Iterator[Page]:
    """The test page, loaded in a fresh browser context (its own IndexedDB)."""
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.goto(stack.origin + "/")
    page.wait_for_function("() => window.uppy !== undefined")
    yield page
    context.close()
