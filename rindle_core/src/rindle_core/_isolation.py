"""Hook implementations that cannot stop each other, called by pluggy itself.

pluggy calls a hook's implementations one after another and stops at the
first exception, so one broken observer would silence the others (and
reach the code that made the call). Rather than calling each
implementation by hand, which would bypass pluggy's wrappers and
``add_hookcall_monitoring``, :func:`isolate` replaces each plain
implementation's function with a shield that reports its exception and
returns ``None``; the hook is then called the normal way,
``pm.hook.<name>(...)``. Wrappers (``wrapper=True``, ``hookwrapper=True``)
are left as they are: they see the call, its result and any exception of
their own. Shielding is idempotent and is applied at call time, so it
covers plugins registered at any moment, on any plugin manager.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["OnError", "is_isolated", "isolate"]

#: ``on_error(hook_name, plugin_name, exc)``: told about a shielded failure.
OnError = Callable[[str, str, Exception], None]

_MARK = "__rindle_isolated__"


def isolate(hook: pluggy.HookCaller, on_error: OnError) -> None:
    """Shield every plain implementation of *hook* that is not shielded yet."""
    for impl in hook.get_hookimpls():
        if impl.wrapper or impl.hookwrapper or is_isolated(impl.function):
            continue
        shielded = _shield(impl.function, hook.name, impl.plugin_name, on_error)
        # HookImpl.function is typed Final but is a plain slot; pluggy reads it
        # at each call, which is what makes the shield take effect.
        object.__setattr__(impl, "function", shielded)


def is_isolated(function: Callable[..., Any]) -> bool:
    """Whether *function* is already a shield made by :func:`isolate`."""
    return getattr(function, _MARK, False) is True


def _shield(
    function: Callable[..., Any], hook_name: str, plugin_name: str, on_error: OnError
) -> Callable[..., Any]:
    @functools.wraps(function)
    def shielded(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            on_error(hook_name, plugin_name, exc)
            return None

    setattr(shielded, _MARK, True)
    return shielded
