"""Optional observability plugins, each behind an extra.

- :mod:`rindle_core.contrib.otel` (extra ``otel``): a span per broker
  operation and job run, and upload, job and state metrics, through
  OpenTelemetry.
- :mod:`rindle_core.contrib.prometheus` (extra ``prometheus``): a collector
  of sessions, assets and jobs by state and of the upload and job counters,
  served by ``rindle metrics`` or mounted in the host's WSGI/ASGI app.

Importing this package imports neither library.
"""

from __future__ import annotations

__all__: list[str] = []
