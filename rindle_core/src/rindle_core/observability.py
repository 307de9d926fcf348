"""What observability plugins use: the :class:`Operation` the operation hooks receive.

Observer hooks (:mod:`rindle_core.hookspecs`) report lifecycle events after
commit; ``rindle_operation_started`` and ``rindle_operation_finished`` report
each broker operation and job run. Both kinds are called by pluggy with each
plain implementation isolated, so wrappers and hook-call monitoring work and
one failing plugin never stops another. Ready-made plugins:
:mod:`rindle_core.contrib.otel` (OpenTelemetry spans and metrics, extra
``otel``) and :mod:`rindle_core.contrib.prometheus` (a Prometheus collector,
extra ``prometheus``).
"""

from __future__ import annotations

from ._operations import Attribute, Operation

__all__ = ["Attribute", "Operation"]
