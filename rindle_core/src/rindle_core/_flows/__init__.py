"""The upload strategies, one module each, over the shared session store.

:class:`SinglePut` (one presigned PUT), :class:`Post` (one HTML form POST
under a signed policy), :class:`Multipart` (parts assembled by the backend)
and :class:`Resumable` (one session URI uploaded to in order) open sessions
and move them along; every strategy ends in :class:`Verification`. A
strategy that creates remote state before the session's rows returns an
:class:`Opening` whose ``undo`` the broker runs if writing the rows fails.
"""

from ._common import Opening, Resolve, abort, require
from .multipart import Multipart
from .post import Post
from .resumable import Resumable
from .single_put import SinglePut
from .verification import Verification

__all__ = [
    "Multipart",
    "Opening",
    "Post",
    "Resolve",
    "Resumable",
    "SinglePut",
    "Verification",
    "abort",
    "require",
]
