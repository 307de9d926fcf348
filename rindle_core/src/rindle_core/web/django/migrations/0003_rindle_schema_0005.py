"""rindle's tables, as of its schema revision 0005 (part checksums)."""

from __future__ import annotations

from django.db import migrations

from rindle_core.web.django._schema import RindleSchema


class Migration(migrations.Migration):
    # rindle's own connection does the work; Django's must not hold a transaction meanwhile.
    atomic = False
    dependencies = [("rindle", "0002_rindle_schema_0004")]
    operations = [RindleSchema(revision="0005", previous="0004")]
