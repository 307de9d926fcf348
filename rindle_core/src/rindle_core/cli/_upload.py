"""``rindle upload``: be the client: initiate, send the bytes over HTTP, verify."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from .._broker import Broker
from .._errors import RindleError
from .._mimetypes import guess_type
from ..client import UploadClient
from ..config import parse_size
from ..models import UploadSession, VerifyResult
from ..states import AssetState, is_terminal
from ..storage import PresignedRequest
from ._app import App, console, pass_app, print_json
from ._render import asset_table, human_size

__all__ = ["SIZE", "upload"]

#: GCS (and rindle's resumable protocol) needs chunks in multiples of 256 KiB.
_RESUMABLE_QUANTUM: Final = 256 * 1024

_STRATEGIES: Final = ("put", "post", "multipart", "resumable")


class SizeType(click.ParamType):  # type: ignore[type-arg]
    """A byte count: ``8388608``, ``8MiB``, ``10 MB``."""

    name = "bytes"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


SIZE: Final = SizeType()


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
    help="Parts sent in parallel (multipart)  [default: 4]",
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
    """
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
    if profile_name is None:
        if len(config.profiles) != 1:
            names = ", ".join(p.name for p in config.profiles)
            raise click.UsageError(f"--profile is required (configured profiles: {names})")
        profile_name = config.profiles[0].name
    content_type = content_type or guess_type(path.name) or "application/octet-stream"
    broker = app.broker(serve_local=True)
    size = path.stat().st_size
    show_progress = not no_progress and console(stderr=True).is_terminal
    uploader = _Uploader(broker, profile_name, path, filename or path.name, content_type, size)
    with (
        _progress_bar(size, path.name, show_progress) as advance,
        UploadClient(progress=advance) as client,
    ):
        if strategy == "put":
            result = uploader.put(client)
        elif strategy == "post":
            result = uploader.post(client)
        elif strategy == "multipart":
            result = uploader.multipart(client, part_size, concurrency or 4)
        else:
            result = uploader.resumable(client, part_size)
    _report(result, as_json, inline=broker.job_mode == "inline")


class _Uploader:
    """The four client flows; each aborts its session if the transfer fails."""

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
        with self._abort_on_failure(session):
            signed = self.broker.sign_url(session.id)
            client.put(signed.presigned, self.path)
        return self.broker.verify_completion(session.id)

    def post(self, client: UploadClient) -> VerifyResult:
        session = self.broker.initiate_post_session(
            self.profile, filename=self.filename, content_type=self.content_type, size=self.size
        )
        with self._abort_on_failure(session):
            signed = self.broker.sign_post(session.id)
            client.post_form(signed.post, self.path)
        return self.broker.verify_completion(session.id)

    def multipart(
        self, client: UploadClient, part_size: int | None, concurrency: int
    ) -> VerifyResult:
        started = self.broker.initiate_multipart_session(
            self.profile,
            filename=self.filename,
            content_type=self.content_type,
            size=self.size,
            part_size=part_size,
        )
        session = started.session

        def sign(numbers: Sequence[int]) -> Sequence[PresignedRequest]:
            return self.broker.sign_multipart_parts(session.id, numbers).parts

        chosen = started.multipart.part_size
        assert chosen is not None  # the broker always says which part size it chose
        with self._abort_on_failure(session):
            parts = client.upload_parts(
                self.path, part_size=chosen, sign=sign, concurrency=concurrency
            )
            return self.broker.complete_multipart_upload(session.id, parts)

    def resumable(self, client: UploadClient, chunk_size: int | None) -> VerifyResult:
        started = self.broker.initiate_resumable_session(
            self.profile, filename=self.filename, content_type=self.content_type, size=self.size
        )
        session = started.session
        if chunk_size is None:
            preferred = self.broker.profiles[self.profile].part_size
            chunk_size = max(1, -(-preferred // _RESUMABLE_QUANTUM)) * _RESUMABLE_QUANTUM
        with self._abort_on_failure(session):
            client.upload_resumable(started.resumable.session_uri, self.path, chunk_size=chunk_size)
        return self.broker.verify_completion(session.id)

    @contextlib.contextmanager
    def _abort_on_failure(self, session: UploadSession) -> Iterator[None]:
        """Abort the session (and its remote upload) when the transfer fails."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(RindleError):
                current = self.broker.get_session(session.id)
                if not is_terminal(current.state):
                    self.broker.abort_session(session.id)
            raise


@contextlib.contextmanager
def _progress_bar(size: int, name: str, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A rich byte progress bar on stderr; yields the callback for UploadClient."""
    if not enabled:
        yield None
        return
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
