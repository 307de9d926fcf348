"""The demo's live view: an observer plugin that keeps each owner's recent transitions.

Registered on the broker's plugin manager, it is called after each commit
(like ``rindle demo``'s observer, ADR 0043) and records the state changes of
sessions and assets that have an owner, in a bounded queue per owner. The
demo's event stream reads them back by sequence number. Stdlib only; safe to
call from any thread.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict, deque
from collections.abc import Mapping
from typing import Final, Literal

import attrs

from ..._hookimpl import hookimpl
from ...models import Asset, UploadSession

__all__ = ["Transition", "TransitionLog"]

#: Transitions kept per owner (the oldest are dropped first).
DEFAULT_PER_OWNER: Final = 1000
#: Owners kept (the one written to longest ago is dropped first).
DEFAULT_OWNERS: Final = 64
#: The longest filename shown.
_NAME_LIMIT: Final = 200


@attrs.frozen
class Transition:
    """One state change: ``upload`` is the asset id, shared by a session and its asset."""

    seq: int
    at: dt.datetime
    upload: str
    machine: Literal["session", "asset"]
    id: str
    from_state: str
    to_state: str
    strategy: str | None = None
    name: str | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, object]:
        """The JSON object the event stream sends."""
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "upload": self.upload,
            "machine": self.machine,
            "id": self.id,
            "from": self.from_state,
            "to": self.to_state,
            "strategy": self.strategy,
            "name": self.name,
            "reason": self.reason,
        }


class TransitionLog:
    """A rindle plugin recording each owner's transitions; :meth:`since` reads them."""

    def __init__(self, *, per_owner: int = DEFAULT_PER_OWNER, owners: int = DEFAULT_OWNERS) -> None:
        if per_owner < 1 or owners < 1:
            raise ValueError("per_owner and owners must be positive")
        self._per_owner = per_owner
        self._owners = owners
        self._lock = threading.Lock()
        self._seq = 0
        self._log: OrderedDict[str, deque[Transition]] = OrderedDict()

    def __repr__(self) -> str:
        return f"TransitionLog(owners={len(self._log)}, seq={self._seq})"

    def since(self, owner: str, seq: int = 0) -> list[Transition]:
        """*owner*'s transitions after sequence number *seq*, oldest first."""
        with self._lock:
            return [t for t in self._log.get(owner, ()) if t.seq > seq]

    # -- hooks (called after each commit, in whichever thread made it) ------------

    @hookimpl
    def rindle_upload_started(self, session: UploadSession) -> None:
        self._session(session, "", session.state.value)

    @hookimpl
    def rindle_session_transitioned(
        self, session: UploadSession, from_state: str, to_state: str
    ) -> None:
        self._session(session, from_state, to_state)

    @hookimpl
    def rindle_asset_transitioned(self, asset: Asset, from_state: str, to_state: str) -> None:
        if asset.owner is None:
            return
        self._record(
            asset.owner,
            Transition(
                seq=0,
                at=_now(),
                upload=asset.id,
                machine="asset",
                id=asset.id,
                from_state=from_state,
                to_state=to_state,
                name=asset.filename[:_NAME_LIMIT],
                reason=asset.quarantine_reason,
            ),
        )

    def _session(self, session: UploadSession, from_state: str, to_state: str) -> None:
        if session.owner is None:
            return
        self._record(
            session.owner,
            Transition(
                seq=0,
                at=_now(),
                upload=session.asset_id,
                machine="session",
                id=session.id,
                from_state=from_state,
                to_state=to_state,
                strategy=session.upload_strategy,
                name=_client_name(session.metadata),
                reason=session.failure_reason,
            ),
        )

    def _record(self, owner: str, unnumbered: Transition) -> None:
        with self._lock:
            self._seq += 1
            event = attrs.evolve(unnumbered, seq=self._seq)
            queue = self._log.get(owner)
            if queue is None:
                queue = self._log[owner] = deque(maxlen=self._per_owner)
                while len(self._log) > self._owners:
                    self._log.popitem(last=False)
            else:
                self._log.move_to_end(owner)
            queue.append(event)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _client_name(metadata: Mapping[str, object]) -> str | None:
    """The file name Uppy sends as metadata (``name``), if it sent one."""
    name = metadata.get("name")
    return name[:_NAME_LIMIT] if isinstance(name, str) else None
