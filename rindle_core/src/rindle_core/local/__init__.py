"""The ``local`` storage backend: objects on disk, uploads through a signed WSGI receiver.

The embedded default for development, tests and single-machine apps::

    from rindle_core.local import LocalStorage, serve_receiver

    server = serve_receiver("var/uploads")                 # or mount storage.receiver()
    storage = LocalStorage("var/uploads", base_url=server.url)
"""

from __future__ import annotations

from ._receiver import UploadReceiver
from ._server import ReceiverServer, serve_receiver
from ._storage import LocalStorage

__all__ = ["LocalStorage", "ReceiverServer", "UploadReceiver", "serve_receiver"]
