"""The four distributions agree: one version, compatible pins, the same license,
classifiers and project URLs; and the built wheels install and run on their own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
CORE = "rindle_core"
PLUGINS = ("rindle_s3", "rindle_gcs", "rindle_azure")
PACKAGES = (CORE, *PLUGINS)
CLI_EXTRA = {"click", "rich", "httpx"}


def _project(folder: str) -> dict[str, Any]:
    with (ROOT / folder / "pyproject.toml").open("rb") as f:
        project: dict[str, Any] = tomllib.load(f)["project"]
    return project


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower() for r in requirements}


@pytest.fixture(scope="module")
def projects() -> dict[str, dict[str, Any]]:
    return {folder: _project(folder) for folder in PACKAGES}


@pytest.fixture(scope="module")
def version(projects: dict[str, dict[str, Any]]) -> Version:
    return Version(projects[CORE]["version"])


def test_one_version_for_all_four(projects: dict[str, dict[str, Any]]) -> None:
    versions = {folder: project["version"] for folder, project in projects.items()}
    assert len(set(versions.values())) == 1, versions


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugins_pin_a_compatible_core(
    projects: dict[str, dict[str, Any]], version: Version, plugin: str
) -> None:
    (pin,) = [
        Requirement(r) for r in projects[plugin]["dependencies"] if r.startswith("rindle-core")
    ]
    assert pin.specifier.contains(version), f"{plugin}: {pin} refuses rindle-core {version}"
    # Bounded above: the next minor release (0.x) or major release may break plugins.
    next_breaking = (
        Version(f"{version.major}.{version.minor + 1}.0")
        if version.major == 0
        else Version(f"{version.major + 1}.0.0")
    )
    assert not pin.specifier.contains(next_breaking), f"{plugin}: {pin} has no upper bound"


def test_root_pyproject_is_configuration_only() -> None:
    with (ROOT / "pyproject.toml").open("rb") as f:
        root = tomllib.load(f)
    assert "project" not in root
    assert "build-system" not in root


def test_license_file_and_declaration() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the full text, not a stub
    for folder in PACKAGES:
        project = _project(folder)
        assert project["license"] == "Apache-2.0", folder
        assert project["license-files"] == ["LICENSE"], folder
        # hatchling reads license files inside the package folder only: each
        # keeps a copy of the root LICENSE, which must not drift.
        copy = (ROOT / folder / "LICENSE").read_text(encoding="utf-8")
        assert copy == text, f"{folder}/LICENSE differs from LICENSE"


@pytest.mark.parametrize("folder", PACKAGES)
def test_classifiers(folder: str) -> None:
    project = _project(folder)
    classifiers = set(project["classifiers"])
    expected = {
        "Typing :: Typed",
        "Operating System :: OS Independent",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
    }
    assert expected <= classifiers, expected - classifiers
    assert not any(c.startswith("License ::") for c in classifiers)  # `license` says it
    assert project["requires-python"] == ">=3.11"


def test_project_urls_are_the_same_everywhere(projects: dict[str, dict[str, Any]]) -> None:
    urls = {folder: project["urls"] for folder, project in projects.items()}
    assert set(urls[CORE]) >= {"Homepage", "Documentation", "Changelog", "Issues"}
    assert all(u == urls[CORE] for u in urls.values()), urls


@pytest.mark.parametrize("folder", PACKAGES)
def test_every_package_is_typed(folder: str) -> None:
    with (ROOT / folder / "pyproject.toml").open("rb") as f:
        wheel = tomllib.load(f)["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == [f"src/{folder}"]
    assert (ROOT / folder / "src" / folder / "py.typed").is_file()


def test_core_needs_only_what_a_server_needs(projects: dict[str, dict[str, Any]]) -> None:
    core = projects[CORE]
    assert not _names(core["dependencies"]) & CLI_EXTRA
    extras = core["optional-dependencies"]
    assert _names(extras["cli"]) >= CLI_EXTRA
    assert "rindle_core.cli:main" in core["scripts"].values()
    # psycopg itself; the binary build is a choice (`postgres-binary`).
    (postgres,) = [Requirement(r) for r in extras["postgres"]]
    assert (postgres.name, postgres.extras) == ("psycopg", set())
    (binary,) = [Requirement(r) for r in extras["postgres-binary"]]
    assert (binary.name, binary.extras) == ("psycopg", {"binary"})


def test_changelog_and_readme_install(version: Version) -> None:
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert 'pip install "./rindle_core[postgres,cli]" ./rindle_s3' in install
    # The wheel names it shows are the ones `nox -s build` makes today.
    wheels = re.findall(r"dist/(rindle_\w+)-([\w.]+)-py3-none-any\.whl", install)
    assert {name for name, _ in wheels} == {"rindle_core", "rindle_s3"}
    assert {v for _, v in wheels} == {str(version)}
    assert 'pip install "rindle-core[cli]"' in install
    assert 'pip install "psycopg[binary]"' in install


# -- the built wheels, installed into a fresh virtual environment -------------------------


def _bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


def _run(
    args: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (args, done.stdout[-4000:], done.stderr[-4000:])
    return done


@pytest.mark.slow
def test_built_wheels_install_into_a_fresh_venv_and_run_the_demo(
    tmp_path: Path, version: Version
) -> None:
    """Build the four wheels, install them (with the `cli` extra) from PyPI's
    dependencies into a new venv, and run `rindle demo` from it.

    Nothing outside tmp_path is used but the source tree (and pip's cache).
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RINDLE_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    env |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "COLUMNS": "120"}
    venv, wheels, work = tmp_path / "venv", tmp_path / "wheels", tmp_path / "work"
    work.mkdir()
    _run([sys.executable, "-m", "venv", venv], tmp_path, env)
    python = _bin(venv, "python")
    pip: list[str | Path] = [python, "-m", "pip", "--quiet"]

    _run(
        [*pip, "wheel", "--no-deps", "--wheel-dir", wheels, *(ROOT / p for p in PACKAGES)],
        tmp_path,
        env,
    )
    built = {p: wheels / f"{p}-{version}-py3-none-any.whl" for p in PACKAGES}
    for folder, wheel in built.items():
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            info = f"{folder}-{version}.dist-info"
            assert f"{folder}/py.typed" in names
            assert f"{info}/licenses/LICENSE" in names
            metadata = Parser().parsestr(zf.read(f"{info}/METADATA").decode())
        assert metadata["Version"] == str(version)
        assert metadata["License-Expression"] == "Apache-2.0"
        assert "Typing :: Typed" in metadata.get_all("Classifier", [])

    _run(
        [*pip, "install", f"{built[CORE]}[cli]", *(built[p] for p in PLUGINS)],
        tmp_path,
        env,
        timeout=600,
    )

    rindle = _bin(venv, "rindle")
    assert _run([rindle, "--version"], work, env).stdout == f"rindle {version}\n"
    out = _run([rindle, "demo"], work, env).stdout
    for word in ("available", "quarantined", "expired", "abandoned"):
        assert word in out
    assert list(work.iterdir()) == []

    # Each plugin's entry point loads with only its declared dependencies.
    loaded = _run(
        [
            python,
            "-c",
            "from importlib.metadata import entry_points\n"
            "print(sorted(ep.name for ep in entry_points(group='rindle') if ep.load()))",
        ],
        work,
        env,
    ).stdout
    assert loaded.strip() == "['azure', 'gcs', 's3']"
