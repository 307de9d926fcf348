"""``rindle upload``: be the client: initiate, send the bytes over HTTP, verify.

Heavy modules (the broker and SQLAlchemy, rich's progress bar) are imported
when the command runs, not when the command group is built; with ``--api``
they are never imported (``_upload_sessions`` says who keeps the sessions).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from .._errors import RindleError, TransferFailed
from ._app import App, console, pass_app
from ._upload_sessions import APISessions, BrokerSessions, Declared, Sessions

if TYPE_CHECKING:
    from ..client import UploadClient
    from ..storage import PresignedRequest, UploadedPart

__all__ = ["SIZE", "upload"]

#: GCS (and rindle's resumable protocol) needs chunks in multiples of 256 KiB.
_RESUMABLE_QUANTUM: Final = 256 * 1024

_STRATEGIES: Final = ("put", "post", "multipart", "resumable")
#: Strategies whose sessions survive an interrupted transfer (``--resume``).
_RESUMABLE_STRATEGIES: Final = frozenset({"multipart", "resumable"})


class SizeType(click.ParamType):  # type: ignore[type-arg]
    """A byte count: ``8388608``, ``8MiB``, ``10 MB``."""

    name = "bytes"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from ..config import parse_size

        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


SIZE: Final = SizeType()


class Interrupted(RindleError):
    """The transfer stopped; the session is kept, and ``--resume`` continues it."""


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option(
    "--profile",
    "-p",
    "profile_name",
    metavar="NAME",
    help="Profile to upload under (optional when only one is configured).",
)
@click.option(
    "--strategy",
    type=click.Choice(list(_STRATEGIES)),
    default="put",
    show_default=True,
    help=(
        "put: one presigned PUT; post: one form POST under a signed policy; "
        "multipart: parallel parts; resumable: a resumable session."
    ),
)
@click.option(
    "--part-size",
    type=SIZE,
    metavar="BYTES",
    help="Part size (multipart) or chunk size (resumable, a multiple of 256 KiB); e.g. 16MiB.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=None,
    help="Parts sent in parallel (multipart)  [default: 2 per CPU, 10 to 16]",
)
@click.option(
    "--resume",
    "resume_id",
    metavar="SESSION",
    help="Continue an interrupted multipart or resumable session: send only what "
    "storage does not hold yet.",
)
@click.option(
    "--content-type",
    metavar="TYPE",
    help="Declared content type  [default: guessed from the extension]",
)
@click.option("--filename", metavar="NAME", help="File name recorded on the asset.")
@click.option(
    "--api",
    "api_url",
    metavar="URL",
    envvar="RINDLE_API_URL",
    help="Upload through a running app's upload API at URL (its mount point, e.g. "
    "https://app.example/api) instead of the configured database; a bearer token is "
    "read from $RINDLE_API_TOKEN.  [env: RINDLE_API_URL]",
)
@click.option(
    "--header",
    "headers",
    metavar="'NAME: VALUE'",
    multiple=True,
    help="A header sent with every API call (--api only; repeatable).",
)
@click.option("--no-progress", is_flag=True, help="Do not show the progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object for scripts.")
@pass_app
def upload(
    app: App,
    path: Path,
    profile_name: str | None,
    strategy: str,
    part_size: int | None,
    concurrency: int | None,
    resume_id: str | None,
    content_type: str | None,
    filename: str | None,
    api_url: str | None,
    headers: tuple[str, ...],
    no_progress: bool,
    as_json: bool,
) -> None:
    """Upload PATH as a browser would: session, signed URL(s), HTTP, verify.

    In inline job mode the asset is promoted before the command returns;
    in worker mode it waits for `rindle worker`. The file is streamed, so
    memory stays flat whatever its size. With the local backend and no
    `base_url`, a receiver is served on 127.0.0.1 for the command.

    With --api the sessions are the app's: the command needs no database
    or cloud credentials, only what the app's API asks for.

    Failed requests are retried with backoff. A multipart or resumable
    upload that is interrupted (Ctrl-C) or runs out of retries keeps its
    session: `--resume SESSION` sends only what storage does not hold yet.
    """
    from .._mimetypes import guess_type
    from ..client import UploadClient

    if strategy in ("put", "post") and (part_size is not None or concurrency is not None):
        raise click.UsageError("--part-size and --concurrency apply to multipart and resumable")
    if (
        strategy == "resumable"
        and part_size is not None
        and (part_size < 1 or part_size % _RESUMABLE_QUANTUM)
    ):
        raise click.BadParameter(
            "must be a multiple of 256 KiB for resumable", param_hint="--part-size"
        )
    if headers and api_url is None:
        raise click.UsageError("--header applies to --api")
    sessions: Sessions
    if api_url is not None:
        sessions = _api_sessions(app, api_url, headers)
    else:  # configuration errors come before anything is opened
        if profile_name is None and resume_id is None:
            profile_name = _only_profile(app)
        sessions = BrokerSessions(app.broker(serve_local=True))
    declared = Declared(
        profile=profile_name,
        filename=filename or path.name,
        content_type=content_type or guess_type(path.name) or "application/octet-stream",
        size=path.stat().st_size,
    )
    show_progress = not no_progress and console(stderr=True).is_terminal
    uploader = _Uploader(sessions, path, declared)
    with (
        _progress_bar(declared.size, path.name, show_progress) as advance,
        UploadClient(progress=advance) as client,
    ):
        if resume_id is not None:
            result = uploader.resume(client, resume_id, concurrency)
        elif strategy == "put":
            result = uploader.put(client)
        elif strategy == "post":
            result = uploader.post(client)
        elif strategy == "multipart":
            result = uploader.multipart(client, part_size, concurrency)
        else:
            result = uploader.resumable(client, part_size)
    sessions.report(result, as_json)


def _only_profile(app: App) -> str:
    """The one configured profile; a usage error when there are several."""
    config = app.config()
    if len(config.profiles) != 1:
        names = ", ".join(p.name for p in config.profiles)
        raise click.UsageError(f"--profile is required (configured profiles: {names})")
    return config.profiles[0].name


def _api_sessions(app: App, url: str, headers: tuple[str, ...]) -> Sessions:
    """The upload API at *url*, with the token from ``$RINDLE_API_TOKEN``."""
    import os

    from .._redaction import redact_url
    from ..api_client import APIClient

    sent: dict[str, str] = {}
    for header in headers:
        name, colon, value = header.partition(":")
        if not colon:
            raise click.BadParameter("expected 'NAME: VALUE'", param_hint="--header")
        sent[name.strip()] = value.strip()  # APIClient refuses what cannot be sent
    try:
        api = APIClient(url, token=os.environ.get("RINDLE_API_TOKEN") or None, headers=sent)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None  # the message names what is wrong
    app.stack.callback(api.close)
    click.echo(f"api: {redact_url(url)}", err=True)
    return APISessions(api)


class _Uploader:
    """The four client flows and resume, over whoever keeps the sessions.

    A failed single PUT or POST aborts its session. A multipart or
    resumable transfer that is interrupted, or fails for a transient
    reason, keeps its session for ``--resume``; any other failure aborts it.
    """

    def __init__(self, sessions: Sessions, path: Path, declared: Declared) -> None:
        self.sessions = sessions
        self.path = path
        self.declared = declared

    def put(self, client: UploadClient) -> Any:
        opened = self.sessions.open("presigned_put", self.declared)
        session_id = opened.session_id
        with self._on_failure(session_id, keep=False):
            assert opened.upload is not None  # a single PUT comes signed
            client.put(opened.upload, self.path, resign=lambda: self.sessions.sign_put(session_id))
        return self.sessions.complete(session_id)

    def post(self, client: UploadClient) -> Any:
        opened = self.sessions.open("presigned_post", self.declared)
        with self._on_failure(opened.session_id, keep=False):
            assert opened.form is not None  # a form POST comes signed
            client.post_form(opened.form, self.path)
        return self.sessions.complete(opened.session_id)

    def multipart(
        self, client: UploadClient, part_size: int | None, concurrency: int | None
    ) -> Any:
        opened = self.sessions.open(
            "multipart",
            self.declared,
            part_size=part_size,
            checksum_algorithm=self.sessions.checksum_algorithm(self.declared.profile),
        )
        chosen = opened.part_size
        assert chosen is not None  # the broker always says which part size it chose
        return self._send_parts(
            client, opened.session_id, chosen, opened.checksum_algorithm, concurrency, held=()
        )

    def resumable(self, client: UploadClient, chunk_size: int | None) -> Any:
        opened = self.sessions.open("resumable", self.declared)
        if chunk_size is None:
            preferred = self.sessions.chunk_size(self.declared.profile)
            chunk_size = max(1, -(-preferred // _RESUMABLE_QUANTUM)) * _RESUMABLE_QUANTUM
        assert opened.session_uri is not None  # a resumable session comes with its URI
        with self._on_failure(opened.session_id, keep=True):
            client.upload_resumable(opened.session_uri, self.path, chunk_size=chunk_size)
        return self.sessions.complete(opened.session_id)

    def resume(self, client: UploadClient, session_id: str, concurrency: int | None) -> Any:
        """Continue *session_id*: send only the parts (or bytes) storage lacks."""
        session = self.sessions.resumption(session_id)
        if session.strategy not in _RESUMABLE_STRATEGIES:
            raise click.UsageError(
                f"session {session.session_id} is a {session.strategy} upload: only multipart "
                "and resumable sessions can be resumed"
            )
        if session.terminal:
            raise click.UsageError(
                f"session {session.session_id} is {session.state}: it cannot be resumed"
            )
        size = self.declared.size
        if session.declared_size is not None and session.declared_size != size:
            raise click.UsageError(
                f"{self.path.name} is {size} bytes; session {session.session_id} "
                f"expects {session.declared_size}"
            )
        if session.strategy == "multipart":
            part_size = session.part_size
            assert part_size is not None  # a multipart session records its part size
            return self._send_parts(
                client,
                session.session_id,
                part_size,
                session.checksum_algorithm,
                concurrency,
                session.held,
            )
        uri = session.session_uri
        if uri is None:
            raise click.UsageError(
                f"session {session.session_id} has no resumable session to continue here"
                " (the upload API hands its URI only to the command that opened it)"
            )
        chunk = max(1, -(-(session.part_size or 8 * 2**20) // _RESUMABLE_QUANTUM))
        with self._on_failure(session.session_id, keep=True):
            client.upload_resumable(
                uri, self.path, chunk_size=chunk * _RESUMABLE_QUANTUM, resume=True
            )
        return self.sessions.complete(session.session_id)

    def _send_parts(
        self,
        client: UploadClient,
        session_id: str,
        part_size: int,
        checksum_algorithm: str | None,
        concurrency: int | None,
        held: Sequence[UploadedPart],
    ) -> Any:
        def sign(numbers: Sequence[int], checksums: Sequence[str]) -> Sequence[PresignedRequest]:
            bound = checksums if checksum_algorithm is not None else None
            return self.sessions.sign_parts(session_id, numbers, bound)

        with self._on_failure(session_id, keep=True):
            skip = {p.part_number for p in held}
            if checksum_algorithm is None:
                sent = client.upload_parts(
                    self.path,
                    part_size=part_size,
                    sign=lambda numbers: sign(numbers, ()),
                    concurrency=concurrency,
                    skip=skip,
                )
            else:
                sent = client.upload_parts(
                    self.path,
                    part_size=part_size,
                    sign=sign,
                    concurrency=concurrency,
                    skip=skip,
                    checksum_algorithm=checksum_algorithm,
                )
            parts = sorted([*held, *sent], key=lambda p: p.part_number)
            return self.sessions.complete(session_id, parts)

    @contextlib.contextmanager
    def _on_failure(self, session_id: str, *, keep: bool) -> Iterator[None]:
        """Abort the session when the transfer fails, unless *keep* and it can resume."""
        try:
            yield
        except (KeyboardInterrupt, TransferFailed) as exc:
            resumable = isinstance(exc, KeyboardInterrupt) or exc.retryable
            if keep and resumable:
                self._say_resume(session_id, exc)
            else:
                self.sessions.abort(session_id)
            raise
        except BaseException:
            self.sessions.abort(session_id)
            raise

    def _say_resume(self, session_id: str, exc: BaseException) -> None:
        what = "interrupted" if isinstance(exc, KeyboardInterrupt) else "stopped"
        click.echo(
            f"{what}: session {session_id} is kept; continue it with "
            f"`rindle upload --resume {session_id} {self.path}`",
            err=True,
        )


@contextlib.contextmanager
def _progress_bar(size: int, name: str, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A rich byte progress bar on stderr; yields the callback for UploadClient."""
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console(stderr=True),
        transient=False,
    )
    with progress:
        task = progress.add_task(name, total=size)

        def advance(sent: int) -> None:
            progress.advance(task, sent)

        yield advance
