"""``rindle serve``: the upload API and a demo page, in one command, under uvicorn.

One ASGI app (:mod:`rindle_core.web.demo`): the page at ``/``, the upload API
at ``/api``, each local storage's receiver at ``/storage/<name>`` (the
storage's ``base_url`` points there), and the live events. Needs the ``web``
extra; nothing of it is imported until the command runs.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Final, NoReturn
from wsgiref.types import WSGIApplication

import attrs
import click
import pluggy

from .._broker import Broker
from .._errors import ConfigurationError
from ..config import Config
from ..local import LocalStorage
from ..storage import StorageAdapter
from ..web import UploadAPI
from ._app import EXIT_FAILED, EXIT_USAGE, App, fail, pass_app

if TYPE_CHECKING:
    from starlette.types import ASGIApp

__all__ = ["serve"]

#: What the ``web`` extra installs, by import name.
_WEB_EXTRA_MODULES: Final = frozenset({"starlette", "uvicorn", "anyio"})
_WEB_HINT: Final = 'pip install "rindle-core[web]"'


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    metavar="ADDRESS",
    help="Address to listen on.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    metavar="PORT",
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--profile",
    "-p",
    "profile_name",
    metavar="NAME",
    help="Profile the page uploads to (optional when only one is configured).",
)
@pass_app
def serve(app: App, host: str, port: int, profile_name: str | None) -> None:
    """Serve the upload API and a demo page: drop files in a browser, watch each session.

    One server (uvicorn): the page at /, the upload API at /api (Uppy's
    routes included), each local storage's receiver, and the sessions'
    state transitions, live. Promotion runs inline. Uploads are made as a
    demo owner that the page gives the browser in a cookie: a demo, not
    authentication; it listens on 127.0.0.1 unless told otherwise.
    Ctrl-C stops it.
    """
    try:
        from ..web import demo
    except ModuleNotFoundError as exc:
        _missing_web_extra(exc)
    config = app.config()
    profile = _profile(config, profile_name)
    if not _loopback(host):
        click.echo(
            f"warning: listening on {host}, not only on this machine: anyone who can reach "
            "it can open the page and upload as the demo owner (rindle serve is a demo, "
            "not an authenticated server)",
            err=True,
        )
    with _listening(host, port) as sock:
        url = _base_url(host, sock)
        log = demo.TransitionLog()
        broker, receivers = _inline_broker(app, config, url, log, demo.receiver_path)
        access = demo.DemoAccess()
        api = UploadAPI(
            broker, authorize=access.authorize, profiles=[profile], uppy_profile=profile
        )

        def app_for(stopping: Callable[[], bool]) -> ASGIApp:
            return demo.create_app(
                api,
                access=access,
                log=log,
                receivers=receivers,
                stopping=stopping,
                profile=profile,
            )

        _announce(config, url, profile, access.owner, bundled=demo.UPPY_DIR.is_dir())
        demo.run(app_for, sock)
    click.echo("stopped", err=True)


def _missing_web_extra(exc: ModuleNotFoundError) -> NoReturn:
    """Name the ``web`` extra when one of its modules is missing; re-raise anything else."""
    missing = (exc.name or "").partition(".")[0]
    if missing not in _WEB_EXTRA_MODULES:
        raise exc
    click.echo(
        f"error: rindle serve needs the 'web' extra ({missing} is not installed): {_WEB_HINT}",
        err=True,
    )
    raise click.exceptions.Exit(EXIT_USAGE)


def _profile(config: Config, name: str | None) -> str:
    names = [p.name for p in config.profiles]
    if name is None:
        if len(names) != 1:
            raise click.UsageError(
                f"--profile is required (configured profiles: {', '.join(names)})"
            )
        return names[0]
    if name not in names:
        raise click.BadParameter(
            f"no profile {name!r} (configured: {', '.join(names)})", param_hint="--profile"
        )
    return name


def _unspecified(host: str) -> bool:
    """True for a wildcard address (every interface)."""
    try:
        return not host or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def _listening(host: str, port: int) -> Iterator[socket.socket]:
    """A socket listening on *host*:*port*, bound before anything is built (port 0: any)."""
    try:
        family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server((host, port), family=family)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        fail(OSError(f"cannot listen on {host}:{port}: {reason}"), EXIT_FAILED)
    with sock:
        yield sock


def _base_url(host: str, sock: socket.socket) -> str:
    """The URL browsers reach the server at (a wildcard address: this machine's name)."""
    port = sock.getsockname()[1]
    name = socket.gethostname() if _unspecified(host) else host
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}"


def _inline_broker(
    app: App,
    config: Config,
    url: str,
    observer: object,
    receiver_path: Callable[[str], str],
) -> tuple[Broker, dict[str, WSGIApplication]]:
    """The broker (promotion inline, *observer* registered) and the receivers to mount.

    Closed, with its database, when the command ends.
    """
    pm = app.plugin_manager()
    pm.register(observer, name="rindle-serve-events")
    served, receivers = _served_local_storages(config, pm, url, receiver_path)
    storages = {**config.build_storages(plugin_manager=pm, skip=served), **served}
    database = config.open_database()  # after the storages: config errors first
    app.stack.callback(database.dispose)
    app.name_database()
    broker = attrs.evolve(config, job_mode="inline").build_broker(
        plugin_manager=pm, storages=storages, database=database
    )
    app.stack.callback(broker.close)
    return broker, receivers


def _served_local_storages(
    config: Config,
    pm: pluggy.PluginManager,
    url: str,
    receiver_path: Callable[[str], str],
) -> tuple[dict[str, StorageAdapter], dict[str, WSGIApplication]]:
    """Each local storage without ``base_url``, bound to a receiver this server mounts."""
    storages: dict[str, StorageAdapter] = {}
    receivers: dict[str, WSGIApplication] = {}
    for name, storage in config.storages.items():
        if storage.type != "local" or storage.options.get("base_url") is not None:
            continue
        options = {**storage.options, "base_url": url + receiver_path(name)}
        # Built through the configuration, so errors name the file and the storage.
        (built,) = (
            attrs.evolve(config, storages={name: attrs.evolve(storage, options=options)})
            .build_storages(plugin_manager=pm)
            .values()
        )
        if not isinstance(built, LocalStorage):
            raise ConfigurationError(f"storage {name!r}: the local factory built no LocalStorage")
        storages[name] = built
        receivers[name] = built.receiver()
    return storages, receivers


def _announce(config: Config, url: str, profile: str, owner: str, *, bundled: bool) -> None:
    if config.job_mode != "inline":
        click.echo(
            f"jobs: promotion runs inline in this server (the configuration says "
            f"{config.job_mode!r})",
            err=True,
        )
    if not bundled:
        click.echo(
            "warning: the Uppy bundle is missing from this installation "
            "(rindle_core/web/static/uppy): the page cannot upload",
            err=True,
        )
    click.echo(f"rindle serve: open {url}/ (Ctrl-C to stop)")
    click.echo(f"  upload API   {url}/api (Uppy's companionEndpoint; profile {profile!r})")
    click.echo(f"  demo owner   {owner} (rindle sessions list --owner {owner})")
