"""Real Uppy (``@uppy/aws-s3`` 6.x + GoldenRetriever, rindle's committed bundle)
in headless Chromium, uploading through rindle's Uppy routes to the local
backend and to moto (behind the front that checks presigned URLs like S3).

Each test reads the outcome from the broker and the storage, not from the
page: the session ``completed``, the asset ``available``, the stored bytes
equal to the file; and from the API's request log, what Uppy asked for.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from browser_stack import OWNER, Stack

from rindle_core import AssetState, SessionState, StorageNotFound, UploadSession

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

# Collected without Playwright too: conftest.py then skips (or fails) with the reason.
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")

MIB = 1024 * 1024
SMALL = 300 * 1024 + 7  # one form POST
LARGE = 12 * MIB  # multipart: Uppy's 5 MiB parts, so 5 + 5 + 2 MiB
WAIT_S = 30


def _file(directory: Path, name: str, size: int) -> Path:
    path = directory / name
    path.write_bytes(os.urandom(size))
    return path


def _upload(page: Page, *files: Path) -> None:
    page.set_input_files("#pick", [str(f) for f in files])
    page.evaluate("() => { window.uppy.upload() }")


def _results(page: Page, *files: Path) -> dict[str, Any]:
    """What the page recorded once every file succeeded or failed; fails on an error."""
    names = [f.name for f in files]
    page.wait_for_function(
        "names => names.every(n => rindle.results[n] || rindle.errors[n])", arg=names
    )
    errors = page.evaluate("() => rindle.errors")
    assert errors == {}, errors
    results: dict[str, Any] = page.evaluate("() => rindle.results")
    return results


def _poll(page: Page, ready: Callable[[], bool], what: str) -> None:
    """Let the page run until *ready* (checked from Python) holds."""
    deadline = time.monotonic() + WAIT_S
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(50)


def _session(stack: Stack, key: str) -> UploadSession:
    """The owner's session uploading to *key*."""
    sessions = [s for s in stack.broker.list_sessions(owner=OWNER) if s.storage_key == key]
    assert len(sessions) == 1, sessions
    return sessions[0]


def _stored(stack: Stack, key: str, size: int) -> bytes:
    chunks = [
        stack.storage.read_range(key, start, min(4 * MIB, size - start))
        for start in range(0, size, 4 * MIB)
    ]
    return b"".join(chunks)


def _assert_available(stack: Stack, key: str, data: bytes) -> UploadSession:
    """The upload's session completed, its asset available (promotion run,
    waiting out a POST policy that could still replace the object), its bytes stored."""
    session = _session(stack, key)
    assert session.state is SessionState.COMPLETED, session
    if stack.broker.get_asset(session.asset_id).state is AssetState.VALIDATING:
        assert session.urls_expire_at is not None
        stack.clock.advance_past(session.urls_expire_at)
        stack.broker.run_jobs()
    asset = stack.broker.get_asset(session.asset_id)
    assert asset.state is AssetState.AVAILABLE, asset
    assert asset.owner == OWNER
    assert _stored(stack, key, len(data)) == data
    return session


def _signed_parts(stack: Stack, upload_id: str) -> list[int]:
    """The part numbers Uppy asked rindle to sign for *upload_id*, in order."""
    prefix = f"/s3/multipart/{upload_id}/"
    return [int(p[len(prefix) :]) for p in stack.requests.matching("GET", prefix)]


def _part_number(url: str) -> int | None:
    """The part a storage URL uploads (S3: ``partNumber``; local: ``pn``), if any."""
    query = parse_qs(urlsplit(url).query)
    value = query.get("partNumber") or query.get("pn")
    return int(value[0]) if value else None


class PartTwoHeld:
    """Holds the PUTs of part 2 to storage unanswered (the tab is closed, or the
    upload cancelled, while one is in flight) until :attr:`holding` is turned
    off; every other request goes on. Held requests are never let through
    (unrouting would send them on), only failed by :meth:`release`."""

    def __init__(self, page: Page, storage_url: str) -> None:
        self.held: list[Route] = []
        self.holding = True
        page.route(lambda url: url.startswith(storage_url), self._route)

    def _route(self, route: Route) -> None:
        part = _part_number(route.request.url)
        if self.holding and route.request.method == "PUT" and part == 2:
            self.held.append(route)
        else:
            route.fallback()

    def release(self) -> None:
        """Answer the held requests (as failed) so none is left pending."""
        for route in self.held:
            with contextlib.suppress(sync_api.Error):
                route.abort()


@pytest.fixture
def hold_part_two(page: Page, stack: Stack) -> Iterator[Callable[[Path], PartTwoHeld]]:
    """``hold_part_two(file)``: start uploading *file*; return once part 1 is
    stored and the PUT of part 2 is in flight (and held)."""
    gates: list[PartTwoHeld] = []

    def start(large: Path) -> PartTwoHeld:
        gate = PartTwoHeld(page, stack.storage_url)
        gates.append(gate)
        _upload(page, large)
        _poll(page, lambda: bool(gate.held), "the PUT of part 2")
        return gate

    yield start
    for gate in gates:
        gate.release()


def test_uppy_uploads_by_form_post_and_by_multipart(
    stack: Stack, page: Page, tmp_path: Path
) -> None:
    """A small file goes by a presigned form POST (the page completes it with
    ``POST /s3/complete``), a 12 MiB one by multipart; both end available."""
    small, large = _file(tmp_path, "small.bin", SMALL), _file(tmp_path, "large.bin", LARGE)
    _upload(page, small, large)
    results = _results(page, small, large)

    assert results["small.bin"]["completed"] == 200
    posted = _assert_available(stack, results["small.bin"]["key"], small.read_bytes())
    assert posted.upload_strategy == "presigned_post"

    assert results["large.bin"]["completed"] == "multipart"
    multipart = _assert_available(stack, results["large.bin"]["key"], large.read_bytes())
    assert multipart.upload_strategy == "multipart"
    assert _signed_parts(stack, multipart.id) == [1, 2, 3]
    assert len(stack.broker.list_sessions(owner=OWNER)) == 2


def test_uppy_resumes_after_a_reload_from_the_servers_part_list(
    stack: Stack, page: Page, tmp_path: Path, hold_part_two: Callable[[Path], PartTwoHeld]
) -> None:
    """The tab reloads after part 1; GoldenRetriever restores the upload, Uppy
    lists the parts rindle holds and sends only the missing ones to the same
    multipart upload."""
    large = _file(tmp_path, "large.bin", LARGE)
    gate = hold_part_two(large)
    (before,) = stack.broker.list_sessions(owner=OWNER)
    _poll(
        page,
        lambda: bool(page.evaluate("n => rindle.persisted(n, 5 * 2 ** 20)", large.name)),
        "GoldenRetriever to save the upload after part 1",
    )
    assert _signed_parts(stack, before.id) == [1, 2]
    if stack.backend == "s3":  # the bucket's own list (the local backend has none to ask)
        assert stack.remote_uploads() == [before.remote_upload_id]

    gate.holding = False
    page.reload()
    page.wait_for_function("() => window.rindle && rindle.restored")
    # Above GoldenRetriever's 10 MiB blob limit the file comes back as a ghost:
    # the user picks it again, as Uppy's Dashboard asks, then resumes.
    page.set_input_files("#pick", str(large))
    page.evaluate("() => { window.uppy.emit('restore-confirmed') }")
    results = _results(page, large)

    assert results[large.name]["key"] == before.storage_key
    session = _assert_available(stack, before.storage_key, large.read_bytes())
    assert session.id == before.id
    assert session.remote_upload_id == before.remote_upload_id
    assert stack.requests.count("POST", "/s3/multipart") == 1
    assert stack.requests.count("GET", f"/s3/multipart/{before.id}") == 1  # the part list
    assert _signed_parts(stack, before.id) == [1, 2, 2, 3]  # after the reload: 2 and 3
    assert len(stack.broker.list_sessions(owner=OWNER)) == 1
    if stack.backend == "s3":
        assert stack.remote_uploads() == []  # the one upload, completed


def test_uppy_cancel_aborts_the_remote_upload(
    stack: Stack, page: Page, tmp_path: Path, hold_part_two: Callable[[Path], PartTwoHeld]
) -> None:
    """``cancelAll`` mid-upload: Uppy sends ``DELETE``, rindle aborts the session
    and the backend's multipart upload is gone."""
    large = _file(tmp_path, "large.bin", LARGE)
    hold_part_two(large)
    (session,) = stack.broker.list_sessions(owner=OWNER)
    assert session.remote_upload_id is not None
    assert stack.storage.list_parts(session.storage_key, session.remote_upload_id)

    with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
        page.evaluate("() => { window.uppy.cancelAll() }")
    assert deleted.value.status == 204
    assert stack.requests.matching("DELETE", "/s3/multipart/") == [f"/s3/multipart/{session.id}"]
    assert stack.broker.get_session(session.id).state is SessionState.ABORTED
    with pytest.raises(StorageNotFound):
        stack.storage.list_parts(session.storage_key, session.remote_upload_id)
    if stack.backend == "s3":
        assert stack.remote_uploads() == []
    assert page.evaluate("() => window.uppy.getFiles().length") == 0
