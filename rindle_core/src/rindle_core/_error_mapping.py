"""Translating a storage SDK's exceptions into rindle's, without their text."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

from ._errors import StorageError, StorageNotFound, StorageUnavailable

__all__ = ["describe_http_error", "map_exceptions"]


@contextlib.contextmanager
def map_exceptions(
    mapping: Mapping[type[BaseException], type[StorageError]],
    *,
    is_not_found: Callable[[BaseException], bool] = lambda exc: False,
    is_transient: Callable[[BaseException], bool] = lambda exc: False,
    describe: Callable[[BaseException], str] = lambda exc: type(exc).__name__,
) -> Iterator[None]:
    """Translate an SDK's exceptions into rindle's storage errors.

    The most specific match wins: ``is_not_found`` gives
    :class:`~rindle_core.StorageNotFound`, ``is_transient`` gives
    :class:`~rindle_core.StorageUnavailable`, otherwise the first entry of
    *mapping* the exception is an instance of. ``describe`` must return a
    message free of secrets; the original exception is chained as
    ``__cause__`` only when it is one of rindle's own types, never an SDK
    exception whose text may quote a signed URL.
    """
    try:
        yield
    except StorageError:
        raise
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        target: type[StorageError] | None
        if is_not_found(exc):
            target = StorageNotFound
        elif is_transient(exc):
            target = StorageUnavailable
        else:
            target = next((t for s, t in mapping.items() if isinstance(exc, s)), None)
        if target is None:
            raise
        raise target(describe(exc)) from None


def describe_http_error(status: int, code: str | None = None) -> str:
    """A secret-free one-line message for an HTTP error from a backend."""
    return f"HTTP {status}" + (f" {code}" if code else "")
