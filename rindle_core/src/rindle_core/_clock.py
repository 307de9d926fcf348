"""The one home of wall-clock time in the library (the database has its own)."""

from __future__ import annotations

import datetime as dt

__all__ = ["expiry", "utcnow"]


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def expiry(now: dt.datetime, expires_in: int) -> dt.datetime:
    """``now + expires_in`` seconds, for adapters filling ``expires_at``."""
    return now + dt.timedelta(seconds=expires_in)
