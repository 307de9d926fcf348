"""What the state gauges report, read from the database at collection time.

One set-based statement per table (``COUNT(*) … GROUP BY state``) and one
for the due jobs, in one read: cheap whatever the table sizes, and the same
on SQLite, PostgreSQL and MySQL/MariaDB. Every state is present (zero when
no row has it), so a series never disappears.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import attrs
from sqlalchemy import func, select

from .._clock import utcnow
from ..db import Database, assets_table, jobs_table, sessions_table
from ..states import AssetState, JobState, SessionState

__all__ = ["StateCounts", "count_states"]


@attrs.frozen
class StateCounts:
    """Rows by state, and the queue of due jobs, at one moment."""

    sessions: Mapping[str, int]
    assets: Mapping[str, int]
    jobs: Mapping[str, int]
    #: Pending jobs whose ``run_at`` has come.
    due_jobs: int
    #: Seconds since the oldest due job became due (0 when none is due).
    oldest_due_job_age: float


def count_states(database: Database, *, now: dt.datetime | None = None) -> StateCounts:
    """Count sessions, assets and jobs by state, and the due jobs, in one read."""
    now = now or utcnow()
    jobs = jobs_table
    with database.read() as conn:
        by_table: list[dict[str, int]] = [
            {
                str(state): int(count)
                for state, count in conn.execute(
                    select(table.c.state, func.count()).group_by(table.c.state)
                )
            }
            for table in (sessions_table, assets_table, jobs)
        ]
        due, oldest = conn.execute(
            select(func.count(), func.min(jobs.c.run_at)).where(
                jobs.c.state == JobState.PENDING.value, jobs.c.run_at <= now
            )
        ).one()
    sessions, assets, job_states = by_table
    age = 0.0
    if oldest is not None:
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)
        age = max(0.0, (now - oldest).total_seconds())
    return StateCounts(
        sessions={s.value: sessions.get(s.value, 0) for s in SessionState},
        assets={s.value: assets.get(s.value, 0) for s in AssetState},
        jobs={s.value: job_states.get(s.value, 0) for s in JobState},
        due_jobs=int(due),
        oldest_due_job_age=age,
    )
