"""Relays: hand rindle's outbox jobs to the job engine an app already runs.

The outbox table stays the source of truth. After the commit that enqueued
a job, each relay (a ``rindle_dispatch_job`` plugin) hands its id to the
engine; the engine's task runs the job by id under rindle's own claim, so a
duplicate delivery or a retry is harmless; and :func:`redispatch_stale`
(``rindle relay sweep``) hands over again the jobs an engine never ran.

One module per engine, each behind an extra of ``rindle-core``:
:mod:`.celery`, :mod:`.dramatiq`, :mod:`.rq`, :mod:`.procrastinate`,
:mod:`.arq`. See ``docs/relays.md``.
"""

from __future__ import annotations

from ._base import BrokerSource, Relay, require_extra, run_relayed
from ._dispatch import dispatch_job
from ._sweep import DEFAULT_REDISPATCH_TIMEOUT, RedispatchReport, redispatch_stale

__all__ = [
    "DEFAULT_REDISPATCH_TIMEOUT",
    "BrokerSource",
    "RedispatchReport",
    "Relay",
    "dispatch_job",
    "redispatch_stale",
    "require_extra",
    "run_relayed",
]
