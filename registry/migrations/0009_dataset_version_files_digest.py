"""A dataset version pins the digest of its files the first time a job reads them (registry.pipelines.io), with when
and by which job. The new columns are written once by a conditional UPDATE from empty and are not among the frozen
ones; the immutability trigger of 0002 is dropped before the table changes (SQLite rebuilds the table to add these
columns, which drops its triggers) and created again over the same frozen columns afterwards."""

import django.db.models.deletion
from django.db import migrations, models

from core import immutable

TABLE = "registry_datasetversion"
FROZEN_COLUMNS = (
    "dataset_id",
    "number",
    "schema",
    "schema_fingerprint",
    "content_fingerprint",
    "fingerprint_source",
    "row_count",
    "evolution",
    "breaking_change",
    "description",
    "created_at",
)


def drop_trigger(apps, schema_editor):
    immutable.drop_trigger(schema_editor, TABLE, suffix=immutable.REGISTRY_SUFFIX)


def create_trigger(apps, schema_editor):
    # On PostgreSQL the function was created by 0002.
    drop_trigger(apps, schema_editor)
    immutable.create_trigger(
        schema_editor, TABLE, FROZEN_COLUMNS, suffix=immutable.REGISTRY_SUFFIX, function=immutable.REGISTRY_FUNCTION
    )


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0008_dataset_data_changed_event_type"),
        ("registry", "0008_model_version_job_and_use_case_costs"),
    ]

    operations = [
        migrations.RunPython(drop_trigger, create_trigger),
        migrations.AddField(
            model_name="datasetversion",
            name="files_digest",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="datasetversion",
            name="files_digest_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="datasetversion",
            name="files_digest_job",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="core.job",
            ),
        ),
        migrations.RunPython(create_trigger, drop_trigger),
    ]
