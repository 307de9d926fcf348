"""The ``hookimpl`` marker, in a module that imports nothing of rindle's.

Plugins (core's own ``local`` backend among them) decorate their hook
implementations with it; it lives in a leaf module, as pluggy projects
usually keep it, so that importing it never pulls in the plugin manager
(:mod:`rindle_core.plugins` imports the built-in plugins, which would make
a cycle). It is re-exported as :data:`rindle_core.hookimpl` and
:data:`rindle_core.plugins.hookimpl`.
"""

from __future__ import annotations

import pluggy

__all__ = ["hookimpl"]

#: Marks a plugin's implementation of a :mod:`rindle_core.hookspecs` hook.
hookimpl = pluggy.HookimplMarker("rindle")
