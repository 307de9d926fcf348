"""``rindle upload``: be the client: initiate, send the bytes over HTTP, verify.

Heavy modules (the broker and SQLAlchemy, rich's progress bar) are imported
when the command runs, not when the command group is built.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from .._errors import RindleError, TransferFailed
from ._app import App, console, pass_app, print_json

if TYPE_CHECKING:
    from .._broker import Broker
    from ..client import UploadClient
    from ..models import UploadSession, VerifyResult
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
    no_progress: bool,
    as_json: bool,
) -> None:
    """Upload PATH as a browser would: session, signed URL(s), HTTP, verify.

    In inline job mode the asset is promoted before the command returns;
    in worker mode it waits for `rindle worker`. The file is streamed, so
    memory stays flat whatever its size. With the local backend and no
    `base_url`, a receiver is served on 127.0.0.1 for the command.

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
    config = app.config()
    if profile_name is None and resume_id is None:
        if len(config.profiles) != 1:
            names = ", ".join(p.name for p in config.profiles)
            raise click.UsageError(f"--profile is required (configured profiles: {names})")
        profile_name = config.profiles[0].name
    content_type = content_type or guess_type(path.name) or "application/octet-stream"
    broker = app.broker(serve_local=True)
    size = path.stat().st_size
    show_progress = not no_progress and console(stderr=True).is_terminal
    uploader = _Uploader(
        broker, profile_name or "", path, filename or path.name, content_type, size
    )
    with (
        _progress_bar(size, path.name, show_progress) as advance,
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
    _report(result, as_json, inline=broker.job_mode == "inline")


class _Uploader:
    """The four client flows and resume.

    A failed single PUT or POST aborts its session. A multipart or
    resumable transfer that is interrupted, or fails for a transient
    reason, keeps its session for ``--resume``; any other failure aborts it.
    """

    def __init__(
        self, broker: Broker, profile: str, path: Path, filename: str, content_type: str, size: int
    ) -> None:
        self.broker = broker
        self.profile = profile
        self.path = path
        self.filename = filename
        self.content_type = content_type
        self.size = size

    def put(self, client: UploadClient) -> VerifyResult:
        session = self.broker.initiate_session(
            self.profile, filename=self.filename, content_type=self.content_type, size=self.size
        )
        with self._on_failure(session, keep=False):
            signed = self.broker.sign_url(session.id)
            client.put(
                signed.presigned,
                self.path,
                resign=lambda: self.broker.sign_url(session.id).presigned,
            )
        return self.broker.verify_completion(session.id)

    def post(self, client: UploadClient) -> VerifyResult:
        session = self.broker.initiate_post_session(
            self.profile, filename=self.filename, content_type=self.content_type, size=self.size
        )
        with self._on_failure(session, keep=False):
            signed = self.broker.sign_post(session.id)
            client.post_form(signed.post, self.path)
        return self.broker.verify_completion(session.id)

    def multipart(
        self, client: UploadClient, part_size: int | None, concurrency: int | None
    ) -> VerifyResult:
        started = self.broker.initiate_multipart_session(
            self.profile,
            filename=self.filename,
            content_type=self.content_type,
            size=self.size,
            part_size=part_size,
            checksum_algorithm=self._checksum_algorithm(),
        )
        chosen = started.multipart.part_size
        assert chosen is not None  # the broker always says which part size it chose
        return self._send_parts(client, started.session, chosen, concurrency, held=())

    def resumable(self, client: UploadClient, chunk_size: int | None) -> VerifyResult:
        started = self.broker.initiate_resumable_session(
            self.profile, filename=self.filename, content_type=self.content_type, size=self.size
        )
        session = started.session
        if chunk_size is None:
            preferred = self.broker.profiles[self.profile].part_size
            chunk_size = max(1, -(-preferred // _RESUMABLE_QUANTUM)) * _RESUMABLE_QUANTUM
        with self._on_failure(session, keep=True):
            client.upload_resumable(started.resumable.session_uri, self.path, chunk_size=chunk_size)
        return self.broker.verify_completion(session.id)

    def resume(
        self, client: UploadClient, session_id: str, concurrency: int | None
    ) -> VerifyResult:
        """Continue *session_id*: send only the parts (or bytes) storage lacks."""
        from ..states import is_terminal

        session = self.broker.get_session(session_id)
        strategy = str(session.upload_strategy)
        if strategy not in _RESUMABLE_STRATEGIES:
            raise click.UsageError(
                f"session {session.id} is a {strategy} upload: only multipart and "
                "resumable sessions can be resumed"
            )
        if is_terminal(session.state):
            raise click.UsageError(
                f"session {session.id} is {session.state.value}: it cannot be resumed"
            )
        if session.declared_size is not None and session.declared_size != self.size:
            raise click.UsageError(
                f"{self.path.name} is {self.size} bytes; session {session.id} "
                f"expects {session.declared_size}"
            )
        if strategy == "multipart":
            status = self.broker.multipart_status(session.id)
            part_size = status.session.part_size
            assert part_size is not None  # a multipart session records its part size
            return self._send_parts(client, status.session, part_size, concurrency, status.parts)
        uri = session.session_uri
        if uri is None:
            raise click.UsageError(f"session {session.id} has no resumable session to continue")
        chunk = max(1, -(-(session.part_size or 8 * 2**20) // _RESUMABLE_QUANTUM))
        with self._on_failure(session, keep=True):
            client.upload_resumable(
                uri, self.path, chunk_size=chunk * _RESUMABLE_QUANTUM, resume=True
            )
        return self.broker.verify_completion(session.id)

    def _checksum_algorithm(self) -> str | None:
        """CRC32 part checksums where the profile's storage binds them (S3 on AWS)."""
        from ..storage import supports_multipart

        storage = self.broker.storage_for(self.profile)
        if supports_multipart(storage) and "crc32" in storage.part_limits.checksum_algorithms:
            return "crc32"
        return None

    def _send_parts(
        self,
        client: UploadClient,
        session: UploadSession,
        part_size: int,
        concurrency: int | None,
        held: Sequence[UploadedPart],
    ) -> VerifyResult:
        def sign(numbers: Sequence[int], checksums: Sequence[str]) -> Sequence[PresignedRequest]:
            bound = checksums if session.checksum_algorithm is not None else None
            return self.broker.sign_multipart_parts(session.id, numbers, checksums=bound).parts

        with self._on_failure(session, keep=True):
            skip = {p.part_number for p in held}
            if session.checksum_algorithm is None:
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
                    checksum_algorithm=session.checksum_algorithm,
                )
            parts = sorted([*held, *sent], key=lambda p: p.part_number)
            return self.broker.complete_multipart_upload(session.id, parts)

    @contextlib.contextmanager
    def _on_failure(self, session: UploadSession, *, keep: bool) -> Iterator[None]:
        """Abort the session when the transfer fails, unless *keep* and it can resume."""
        try:
            yield
        except (KeyboardInterrupt, TransferFailed) as exc:
            resumable = isinstance(exc, KeyboardInterrupt) or exc.retryable
            if keep and resumable:
                self._say_resume(session, exc)
            else:
                self._abort(session)
            raise
        except BaseException:
            self._abort(session)
            raise

    def _abort(self, session: UploadSession) -> None:
        from ..states import is_terminal

        with contextlib.suppress(RindleError):
            current = self.broker.get_session(session.id)
            if not is_terminal(current.state):
                self.broker.abort_session(session.id)

    def _say_resume(self, session: UploadSession, exc: BaseException) -> None:
        what = "interrupted" if isinstance(exc, KeyboardInterrupt) else "stopped"
        click.echo(
            f"{what}: session {session.id} is kept; continue it with "
            f"`rindle upload --resume {session.id} {self.path}`",
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


def _report(result: VerifyResult, as_json: bool, *, inline: bool) -> None:
    session, asset = result.session, result.asset
    if as_json:
        print_json({"session": session.to_dict(), "asset": asset.to_dict()})
        return
    from rich.text import Text

    from ..states import AssetState
    from ._render import asset_table, human_size

    out = console()
    out.print(
        f"session [bold]{session.id}[/] {session.state.value} "
        f"({session.upload_strategy}, {human_size(asset.byte_size)})",
        highlight=False,
    )
    out.print(asset_table(asset))
    if asset.state is AssetState.QUARANTINED:
        out.print(Text.assemble(("quarantined: ", "red"), asset.quarantine_reason or ""))
    elif asset.state is AssetState.VALIDATING and session.urls_expire_at is not None:
        out.print(
            "promotion waits until the signed URLs or form expire "
            f"({session.urls_expire_at:%Y-%m-%d %H:%M:%S} UTC, plus the clock-skew grace): "
            "run `rindle worker` after that to promote the asset",
            highlight=False,
        )
    elif not inline and asset.state is AssetState.VALIDATING:
        out.print("promotion is queued: run `rindle worker` to promote the asset", highlight=False)
