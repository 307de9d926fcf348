"""rindle_core (its web core included) imports no web framework; each mount imports
only its own."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FRAMEWORKS = ("starlette", "fastapi", "flask", "werkzeug", "django", "anyio", "uvicorn")


def _imported_after(*modules: str) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {list(FRAMEWORKS)!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout))


def test_the_core_imports_no_framework() -> None:
    assert _imported_after("rindle_core", "rindle_core.web", "rindle_core.web.wsgi") == set()


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("rindle_core.web.asgi", {"starlette", "anyio"}),
        ("rindle_core.web.fastapi", {"starlette", "anyio", "fastapi"}),
        ("rindle_core.web.flask", {"flask", "werkzeug"}),
    ],
)
def test_each_mount_imports_its_own_framework(module: str, expected: set[str]) -> None:
    imported = _imported_after(module)
    assert expected <= imported
    assert not ({"flask", "django"} & imported) or module.endswith("flask")
    assert "django" not in imported
