"""Atomic blocks: a host's own writes and rindle's, in one transaction.

Inside :meth:`rindle_core.Database.atomic`, the current
context (thread or task) is *bound* to one connection: rindle's writes run on
it, in its transaction, and what rindle does after a commit (telemetry, the
hand-off of a promotion job) waits until the block commits. Reads join the
transaction only once it is open, so a call that reads, then asks storage,
then writes (``verify_completion``) opens it at its write: storage I/O never
happens inside a transaction rindle opened (ADR 0114).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable

import attrs
from sqlalchemy import Connection

__all__ = ["Binding", "bound_to", "current_binding"]


@attrs.define(eq=False)
class Binding:
    """One atomic block: its owner (a ``Database``), connection and deferred effects."""

    owner: object
    connection: Connection
    after_commit: list[Callable[[], None]] = attrs.field(factory=list)


_current: contextvars.ContextVar[Binding | None] = contextvars.ContextVar(
    "rindle_atomic_block", default=None
)


def current_binding(owner: object) -> Binding | None:
    """The atomic block this context is in, if *owner* opened it."""
    binding = _current.get()
    return binding if binding is not None and binding.owner is owner else None


def bound_to(binding: Binding | None) -> contextvars.Token[Binding | None]:
    """Make *binding* this context's block; ``_current.reset(token)`` undoes it."""
    return _current.set(binding)


def unbind(token: contextvars.Token[Binding | None]) -> None:
    """Leave the block entered with *token*."""
    _current.reset(token)
