"""rindle's tables, as of its schema revision 0003 (owners and client metadata)."""

from __future__ import annotations

from django.db import migrations

from rindle_core.web.django._schema import RindleSchema


class Migration(migrations.Migration):
    # rindle's own connection does the work; Django's must not hold a transaction meanwhile.
    atomic = False
    initial = True
    dependencies = []
    operations = [RindleSchema(revision="0003")]
