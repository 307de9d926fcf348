"""The committed Uppy bundle (``rindle_core/web/static/uppy``): exact pins, a lock
that agrees with them, a bundle and licence file naming those versions, and,
in Chromium, the four names the bundle promises."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uppy_server import BUNDLE

if TYPE_CHECKING:
    from playwright.sync_api import Browser

SOURCE = Path(__file__).resolve().parents[2] / "rindle_core/src/rindle_core/web/static/uppy"
EXPOSED = ["AwsS3", "Dashboard", "GoldenRetriever", "Uppy"]


def _json(name: str) -> Any:
    return json.loads((SOURCE / name).read_text(encoding="utf-8"))


def _pins() -> dict[str, str]:
    manifest = _json("package.json")
    pins: dict[str, str] = manifest["dependencies"]
    return pins


def test_package_json_pins_exact_versions_and_the_lock_agrees() -> None:
    manifest, lock = _json("package.json"), _json("package-lock.json")
    root = lock["packages"][""]
    for field in ("dependencies", "devDependencies"):
        assert root[field] == manifest[field]
        for name, version in manifest[field].items():
            assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", version), (name, version)
            assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert _pins()["@uppy/aws-s3"].startswith("6."), "issue 11 asks for @uppy/aws-s3 6.x"


def test_the_bundle_and_its_licences_name_the_pinned_versions() -> None:
    named = ", ".join(f"{name} {version}" for name, version in _pins().items())
    banner = f"/*! rindle's Uppy bundle (window.Uppy): {named}. "
    for asset in ("uppy.min.js", "uppy.min.css"):
        first = (BUNDLE / asset).read_text(encoding="utf-8").partition("\n")[0]
        assert first.startswith(banner), (asset, first[:300])
    licences = (BUNDLE / "THIRD_PARTY_LICENSES.txt").read_text(encoding="utf-8")
    for name, version in _pins().items():
        assert re.search(rf"^{re.escape(name)} {re.escape(version)} \(MIT\)$", licences, re.M)


def test_the_bundle_exposes_uppy_and_its_plugins_in_chromium(chromium: Browser) -> None:
    """``window.Uppy`` is the four classes, at the pinned versions; the
    Dashboard renders with the bundled CSS (what ``rindle serve``'s page uses)."""
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.set_content('<div id="drop"></div>')
        page.add_style_tag(path=str(BUNDLE / "uppy.min.css"))
        page.add_script_tag(path=str(BUNDLE / "uppy.min.js"))
        assert page.evaluate("() => Object.keys(window.Uppy).sort()") == EXPOSED
        versions = page.evaluate(
            "() => ({core: new Uppy.Uppy().constructor.VERSION, s3: Uppy.AwsS3.VERSION,"
            " golden: Uppy.GoldenRetriever.VERSION, dashboard: Uppy.Dashboard.VERSION})"
        )
        pins = _pins()
        assert versions == {
            "core": pins["@uppy/core"],
            "s3": pins["@uppy/aws-s3"],
            "golden": pins["@uppy/golden-retriever"],
            "dashboard": pins["@uppy/dashboard"],
        }
        page.evaluate("() => new Uppy.Uppy().use(Uppy.Dashboard, {inline: true, target: '#drop'})")
        dashboard = page.locator("#drop .uppy-Root .uppy-Dashboard-inner")
        dashboard.wait_for()
        root = page.locator("#drop .uppy-Root")  # the core's styles apply
        assert root.evaluate("e => getComputedStyle(e).position") == "relative"
    finally:
        context.close()
