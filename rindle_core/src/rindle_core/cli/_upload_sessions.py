"""Who keeps ``rindle upload``'s sessions: the broker in this process, or an upload API.

The command's flows (single PUT, form POST, parts, resumable, resume) ask
one :class:`Sessions` for every step. :class:`BrokerSessions` calls the
broker on the configured database; :class:`APISessions` calls the upload
API of a running app over HTTP (``--api URL``), importing neither
SQLAlchemy nor a cloud SDK.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

import attrs
import click

from .._errors import RindleError
from ..api_client import APIClient, Initiated, ProfileShape, SessionShape, StatusShape
from ..storage import PresignedRequest, UploadedPart
from ._app import console, print_json

if TYPE_CHECKING:
    from .._broker import Broker
    from ..models import UploadSession, VerifyResult

__all__ = ["APISessions", "BrokerSessions", "Declared", "Resumption", "Sessions"]

#: The API's name of each ``--strategy``.
STRATEGY_NAMES: Final = {
    "put": "presigned_put",
    "post": "presigned_post",
    "multipart": "multipart",
    "resumable": "resumable",
}
_RUN_WORKER: Final = "promotion is queued: run `rindle worker` to promote the asset"
_APP_PROMOTES: Final = "promotion is queued: the app's job runner promotes the asset"


@attrs.frozen
class Declared:
    """What the command declares about the file."""

    profile: str | None
    filename: str
    content_type: str
    size: int


@attrs.frozen
class Resumption:
    """What ``--resume`` needs to know about a session."""

    session_id: str
    strategy: str  # the API's name: multipart, resumable, presigned_put…
    state: str
    declared_size: int | None
    part_size: int | None
    checksum_algorithm: str | None = None
    held: tuple[UploadedPart, ...] = ()
    session_uri: str | None = attrs.field(default=None, repr=False)

    @property
    def terminal(self) -> bool:
        """Whether the session has ended."""
        return _ended(self.state)


class Sessions(Protocol):
    """The steps of an upload, whoever keeps its session."""

    def open(
        self,
        strategy: str,
        declared: Declared,
        *,
        part_size: int | None = None,
        checksum_algorithm: str | None = None,
    ) -> Initiated:
        """Open a session (*strategy* as the API names it); a PUT or POST comes signed."""

    def sign_put(self, session_id: str) -> PresignedRequest:
        """A fresh signature for a single PUT."""

    def sign_parts(
        self, session_id: str, numbers: Sequence[int], checksums: Sequence[str] | None
    ) -> Sequence[PresignedRequest]:
        """Sign these parts (with their checksums, when the session binds them)."""

    def complete(self, session_id: str, parts: Sequence[UploadedPart] | None = None) -> Any:
        """Verify (assembling *parts* first); what :meth:`report` prints."""

    def abort(self, session_id: str) -> None:
        """Abort the session unless it has ended; failures are ignored."""

    def resumption(self, session_id: str) -> Resumption:
        """The session, and the parts storage holds for a multipart one."""

    def checksum_algorithm(self, profile: str | None) -> str | None:
        """The part checksum to bind for a multipart upload under *profile*."""

    def chunk_size(self, profile: str | None) -> int:
        """The resumable chunk size when ``--part-size`` is not given (bytes)."""

    def report(self, result: Any, as_json: bool) -> None:
        """Print the outcome (one JSON object with *as_json*)."""


class BrokerSessions:
    """The broker on the configured database: what the command did before ``--api``."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def open(
        self,
        strategy: str,
        declared: Declared,
        *,
        part_size: int | None = None,
        checksum_algorithm: str | None = None,
    ) -> Initiated:
        broker, name, kind = self.broker, declared.filename, declared.content_type
        profile, size = declared.profile or "", declared.size
        if strategy == "presigned_put":
            opened = broker.initiate_session(profile, filename=name, content_type=kind, size=size)
            signed = broker.sign_url(opened.id)
            return Initiated(_shape(signed.session), upload=signed.presigned)
        if strategy == "presigned_post":
            post = broker.initiate_post_session(
                profile, filename=name, content_type=kind, size=size
            )
            form = broker.sign_post(post.id)
            return Initiated(_shape(form.session), form=form.post)
        if strategy == "multipart":
            started = broker.initiate_multipart_session(
                profile,
                filename=name,
                content_type=kind,
                size=size,
                part_size=part_size,
                checksum_algorithm=checksum_algorithm,
            )
            return Initiated(
                _shape(started.session),
                part_size=started.multipart.part_size or started.session.part_size,
                checksum_algorithm=started.session.checksum_algorithm,
            )
        resumable = broker.initiate_resumable_session(
            profile, filename=name, content_type=kind, size=size
        )
        return Initiated(_shape(resumable.session), session_uri=resumable.resumable.session_uri)

    def sign_put(self, session_id: str) -> PresignedRequest:
        return self.broker.sign_url(session_id).presigned

    def sign_parts(
        self, session_id: str, numbers: Sequence[int], checksums: Sequence[str] | None
    ) -> Sequence[PresignedRequest]:
        return self.broker.sign_multipart_parts(session_id, numbers, checksums=checksums).parts

    def complete(
        self, session_id: str, parts: Sequence[UploadedPart] | None = None
    ) -> VerifyResult:
        if parts is not None:
            return self.broker.complete_multipart_upload(session_id, parts)
        return self.broker.verify_completion(session_id)

    def abort(self, session_id: str) -> None:
        from ..states import is_terminal

        with contextlib.suppress(RindleError):
            current = self.broker.get_session(session_id)
            if not is_terminal(current.state):
                self.broker.abort_session(session_id)

    def resumption(self, session_id: str) -> Resumption:
        from ..states import is_terminal

        session = self.broker.get_session(session_id)
        held: tuple[UploadedPart, ...] = ()
        if session.upload_strategy == "multipart" and not is_terminal(session.state):
            status = self.broker.multipart_status(session.id)
            session, held = status.session, tuple(status.parts)
        return Resumption(
            session_id=session.id,
            strategy=str(session.upload_strategy),
            state=session.state.value,
            declared_size=session.declared_size,
            part_size=session.part_size,
            checksum_algorithm=session.checksum_algorithm,
            held=held,
            session_uri=session.session_uri,
        )

    def checksum_algorithm(self, profile: str | None) -> str | None:
        """CRC32 part checksums where the profile's storage binds them (S3 on AWS)."""
        from ..storage import supports_multipart

        storage = self.broker.storage_for(profile or "")
        if supports_multipart(storage) and "crc32" in storage.part_limits.checksum_algorithms:
            return "crc32"
        return None

    def chunk_size(self, profile: str | None) -> int:
        return self.broker.profiles[profile or ""].part_size

    def report(self, result: VerifyResult, as_json: bool) -> None:
        session, asset = result.session, result.asset
        if as_json:
            print_json({"session": session.to_dict(), "asset": asset.to_dict()})
            return
        from ._render import asset_table

        _say_outcome(session.id, session.state.value, session.upload_strategy, asset.byte_size)
        console().print(asset_table(asset))
        waits = session.urls_expire_at
        queued = None if self.broker.job_mode == "inline" else _RUN_WORKER
        _say_asset(
            asset.state.value,
            asset.quarantine_reason,
            waits_until=f"{waits:%Y-%m-%d %H:%M:%S} UTC" if waits is not None else None,
            queued=queued,
        )


class APISessions:
    """A running app's upload API (``rindle upload --api URL``)."""

    def __init__(self, api: APIClient) -> None:
        self.api = api
        self._profiles: dict[str, ProfileShape] = {}

    def open(
        self,
        strategy: str,
        declared: Declared,
        *,
        part_size: int | None = None,
        checksum_algorithm: str | None = None,
    ) -> Initiated:
        if declared.profile is None:
            raise click.UsageError("--profile is required with --api")
        return self.api.initiate(
            declared.profile,
            strategy=strategy,
            filename=declared.filename,
            content_type=declared.content_type,
            size=declared.size,
            part_size=part_size,
            checksum_algorithm=checksum_algorithm,
        )

    def sign_put(self, session_id: str) -> PresignedRequest:
        return self.api.sign_put(session_id)

    def sign_parts(
        self, session_id: str, numbers: Sequence[int], checksums: Sequence[str] | None
    ) -> Sequence[PresignedRequest]:
        return self.api.sign_parts(session_id, numbers, checksums)

    def complete(self, session_id: str, parts: Sequence[UploadedPart] | None = None) -> StatusShape:
        return self.api.complete(session_id, parts)

    def abort(self, session_id: str) -> None:
        with contextlib.suppress(RindleError):
            self.api.abort(session_id)

    def resumption(self, session_id: str) -> Resumption:
        session = self.api.status(session_id)["session"]
        held: tuple[UploadedPart, ...] = ()
        if session["strategy"] == "multipart" and not _ended(session["state"]):
            status = self.api.list_parts(session_id)
            session, held = status.session, status.parts
        return Resumption(
            session_id=session["id"],
            strategy=session["strategy"],
            state=session["state"],
            declared_size=session["declared_size"],
            part_size=session["part_size"],
            checksum_algorithm=session["checksum_algorithm"],
            held=held,
        )

    def checksum_algorithm(self, profile: str | None) -> str | None:
        """CRC32 where the profile's storage binds part checksums, as the API says."""
        multipart = self._profile(profile)["multipart"]
        return "crc32" if multipart and "crc32" in multipart["checksum_algorithms"] else None

    def chunk_size(self, profile: str | None) -> int:
        return self._profile(profile)["part_size"]

    def _profile(self, name: str | None) -> ProfileShape:
        if name is None:
            raise click.UsageError("--profile is required with --api")
        if name not in self._profiles:
            self._profiles[name] = self.api.profile(name)
        return self._profiles[name]

    def report(self, result: StatusShape, as_json: bool) -> None:
        if as_json:
            print_json(dict(result))
            return
        from ._render import asset_table

        session, asset = result["session"], result["asset"]
        _say_outcome(session["id"], session["state"], session["strategy"], asset["byte_size"])
        console().print(asset_table(asset))
        _say_asset(
            asset["state"], asset["quarantine_reason"], waits_until=None, queued=_APP_PROMOTES
        )


def _shape(session: UploadSession) -> SessionShape:
    """The API's shape of a session the broker returned."""
    from ..web._shapes import session_json

    return cast(SessionShape, session_json(session))


def _ended(state: str) -> bool:
    from ..states import SessionState, is_terminal

    return is_terminal(SessionState(state))


def _say_outcome(session_id: str, state: str, strategy: str, size: int | None) -> None:
    from ._render import human_size

    console().print(
        f"session [bold]{session_id}[/] {state} ({strategy}, {human_size(size)})",
        highlight=False,
    )


def _say_asset(
    state: str, quarantine_reason: str | None, *, waits_until: str | None, queued: str | None
) -> None:
    """What happens to the asset next, when it is not simply available (*queued*:
    what to say of a promotion that did not run inline)."""
    out = console()
    if state == "quarantined":
        from rich.text import Text

        out.print(Text.assemble(("quarantined: ", "red"), quarantine_reason or ""))
    elif state == "validating" and waits_until is not None:
        out.print(
            f"promotion waits until the signed URLs or form expire ({waits_until}, plus "
            "the clock-skew grace): run `rindle worker` after that to promote the asset",
            highlight=False,
        )
    elif state == "validating" and queued is not None:
        out.print(queued, highlight=False)
