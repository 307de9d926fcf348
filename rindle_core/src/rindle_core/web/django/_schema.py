"""The Django migration operation that applies rindle's own migrations.

rindle's schema history is Alembic's (``rindle_core/migrations``, recorded
in ``rindle_alembic_version``); each of this app's Django migrations brings
it to one revision, so ``manage.py migrate`` (and the test runner, which
runs it) creates and upgrades rindle's tables, and ``migrate rindle zero``
removes them. The operation connects with rindle's own engine to the
database Django is migrating, as that alias names it at the time (the test
database during a test run), and is skipped where a router forbids app
``rindle`` or where rindle's tables are configured to live in another
database (a URL in the settings: not Django's to migrate).
"""

from __future__ import annotations

from django.db import router
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState

from ...db import Database
from ._conf import database_alias
from ._dburl import url_of

__all__ = ["RindleSchema"]


class RindleSchema(Operation):
    """Bring rindle's tables to Alembic *revision*; backwards, to *previous* (or none)."""

    reduces_to_sql = False
    reversible = True

    def __init__(self, revision: str, previous: str | None = None) -> None:
        self.revision = revision
        self.previous = previous

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        """rindle's tables are not Django models: the project state is unchanged."""

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        self._apply(app_label, schema_editor, self.revision)

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        self._apply(app_label, schema_editor, self.previous or "base", downgrade=True)

    def describe(self) -> str:
        return f"Bring rindle's tables to revision {self.revision}"

    @property
    def migration_name_fragment(self) -> str:
        return f"rindle_schema_{self.revision}"

    def _apply(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        target: str,
        *,
        downgrade: bool = False,
    ) -> None:
        connection = schema_editor.connection
        if not router.allow_migrate(connection.alias, app_label):
            return
        if database_alias() is None:
            return  # rindle's tables are in the database a URL names
        url = url_of(connection.alias, connection.vendor, connection.settings_dict)
        database = Database(url)
        try:
            if downgrade:
                from alembic import command

                command.downgrade(database.alembic_config(), target)
            else:
                database.upgrade(target)
        finally:
            database.close()
