"""The ``local`` storage backend: objects on disk, uploads through a signed WSGI receiver.

The embedded default for development, tests and single-machine apps::

    from rindle_core.local import LocalStorage, serve_receiver

    server = serve_receiver("var/uploads")                 # or mount storage.receiver()
    storage = LocalStorage("var/uploads", base_url=server.url)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rindle_core._lazy import lazy_exports

if TYPE_CHECKING:
    from ._receiver import UploadReceiver
    from ._server import ReceiverServer, serve_receiver
    from ._storage import LocalStorage

__all__ = ["LocalStorage", "ReceiverServer", "UploadReceiver", "serve_receiver"]

#: Where each public name lives: imported on first use, so registering the
#: ``local`` plugin (every ``rindle`` command does) loads no storage,
#: receiver or server module (ADR 0119).
_LAZY = {
    "LocalStorage": "._storage",
    "ReceiverServer": "._server",
    "UploadReceiver": "._receiver",
    "serve_receiver": "._server",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
