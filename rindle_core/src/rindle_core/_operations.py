"""Operations: a broker call or a job run, reported as it starts and as it ends.

:class:`Operation` is what the ``rindle_operation_started`` and
``rindle_operation_finished`` hooks receive (the OpenTelemetry plugin makes
a span of it). Its attributes are ids, names, states and counts, taken from
the call's arguments and result by name: never URLs, signatures, tokens or
session URIs. :func:`observed` marks a :class:`~rindle_core.Broker` method as
an operation; it costs one check when no plugin implements the hooks.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

import attrs

from .models import Asset, MaintenanceReport, UploadSession

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = ["Attribute", "Operation", "describe", "observed"]

#: An attribute value: what OpenTelemetry and Prometheus labels accept.
Attribute = str | int | float | bool

P = ParamSpec("P")
R = TypeVar("R")


@attrs.define(eq=False)
class Operation:
    """One broker operation (``sign_url``, ``verify_completion``…) or job run (``job.run``).

    ``attributes`` grows as the operation learns more (the session's id and
    state from its result). ``outcome`` is ``"ok"`` or ``"error"`` (a job
    run: ``"succeeded"``, ``"retry"``, ``"failed"`` or ``"lost"``); ``error``
    the exception's class name. ``start_time_ns`` is wall-clock
    (:func:`time.time_ns`), ``duration`` seconds, set when it ends.
    """

    name: str
    attributes: dict[str, Attribute] = attrs.field(factory=dict)
    start_time_ns: int = attrs.field(factory=time.time_ns)
    duration: float | None = None
    outcome: str | None = None
    error: str | None = None
    _started: float = attrs.field(factory=time.perf_counter, repr=False)

    def finish(self, outcome: str | None = None, error: BaseException | None = None) -> None:
        """Record the end: the duration, the outcome (``"ok"`` unless set) and error."""
        self.duration = time.perf_counter() - self._started
        if error is not None:
            self.outcome, self.error = "error", type(error).__name__
        elif self.outcome is None:
            self.outcome = outcome or "ok"


def describe(result: object) -> dict[str, Attribute]:
    """The attributes an operation's *result* adds: ids, names and states only."""
    found: dict[str, Attribute] = {}
    session = result if isinstance(result, UploadSession) else getattr(result, "session", None)
    if isinstance(session, UploadSession):
        found.update(
            session_id=session.id,
            asset_id=session.asset_id,
            profile=session.profile,
            storage=session.storage,
            strategy=session.upload_strategy,
            session_state=session.state.value,
        )
    asset = result if isinstance(result, Asset) else getattr(result, "asset", None)
    if isinstance(asset, Asset):
        found.update(asset_id=asset.id, profile=asset.profile, asset_state=asset.state.value)
    if isinstance(result, MaintenanceReport):
        found.update(
            expired=len(result.expired_session_ids),
            remote_aborted=result.remote_aborted,
            cleanup_failures=result.cleanup_failures,
        )
    return found


class _OperationSource(Protocol):
    """What :func:`observed` needs: the ``_telemetry`` of the object it wraps a method of."""

    def observing_operations(self) -> bool: ...

    def operation(
        self, name: str, attributes: Mapping[str, Attribute]
    ) -> AbstractContextManager[Operation]: ...


def observed(
    argument: str | None = None,
) -> Callable[[Callable[Concatenate[Any, P], R]], Callable[Concatenate[Any, P], R]]:
    """Report the decorated method as an operation named after it.

    *argument* names the parameter (the first positional one, or that
    keyword) recorded as an attribute at the start: ``session_id``,
    ``profile`` (a name) or ``asset_id``.
    """

    def decorate(method: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[Any, P], R]:
        name = method.__name__

        @functools.wraps(method)
        def wrapper(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
            telemetry: _OperationSource | None = getattr(self, "_telemetry", None)
            if telemetry is None or not telemetry.observing_operations():
                return method(self, *args, **kwargs)
            start: dict[str, Attribute] = {}
            if argument is not None:
                value = args[0] if args else kwargs.get(argument)
                if isinstance(value, str):
                    start[argument] = value[:200]
            with telemetry.operation(name, start) as operation:
                result = method(self, *args, **kwargs)
                operation.attributes.update(describe(result))
                return result

        return wrapper

    return decorate
