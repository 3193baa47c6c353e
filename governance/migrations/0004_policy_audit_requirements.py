"""A policy version names the audit kinds its releases need, with their maximum age and thresholds
(``audit_requirements``; docs/audits.md, "Release policies and the gate").

The new column is frozen like the others: the trigger of 0002 is dropped before the table changes (SQLite rebuilds
the table to add a column with a default, which drops its triggers) and created again over every frozen column
afterwards.
"""

from django.db import migrations, models

from core import immutable

TABLE = "governance_releasepolicyversion"
OLD_COLUMNS = (
    "policy_id", "number", "required_roles", "min_total", "approval_valid_days", "required_checks", "note",
    "created_at",
)  # fmt: skip
NEW_COLUMNS = (*OLD_COLUMNS, "audit_requirements")


def drop_trigger(apps, schema_editor):
    immutable.drop_trigger(schema_editor, TABLE)


def _create(schema_editor, columns):
    immutable.drop_trigger(schema_editor, TABLE)
    immutable.create_trigger(schema_editor, TABLE, columns)


def create_new_trigger(apps, schema_editor):
    _create(schema_editor, NEW_COLUMNS)


def create_old_trigger(apps, schema_editor):
    _create(schema_editor, OLD_COLUMNS)


class Migration(migrations.Migration):
    dependencies = [("governance", "0003_environment_allowed_regions")]

    operations = [
        migrations.RunPython(drop_trigger, create_old_trigger),
        migrations.AddField(
            model_name="releasepolicyversion",
            name="audit_requirements",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(create_new_trigger, drop_trigger),
    ]
