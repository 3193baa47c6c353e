"""A feature-set version written by a job records the job (one version per job), its Parquet's location, row count
and output fingerprint. The new columns are frozen like the others: the immutability trigger of 0004 is dropped
before the table changes (SQLite rebuilds the table to add a constraint, which drops its triggers) and created again
over all recorded columns afterwards."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from core import immutable

TABLE = "registry_featuresetversion"
OLD_COLUMNS = ("feature_view_id", "number", "features", "fingerprint", "statistics", "description", "created_at")
NEW_COLUMNS = (*OLD_COLUMNS, "job_id", "storage_location", "output_fingerprint", "row_count")


def drop_trigger(apps, schema_editor):
    immutable.drop_trigger(schema_editor, TABLE, suffix=immutable.REGISTRY_SUFFIX)


def _create(schema_editor, columns):
    # On PostgreSQL the function was created by 0002.
    immutable.drop_trigger(schema_editor, TABLE, suffix=immutable.REGISTRY_SUFFIX)
    immutable.create_trigger(
        schema_editor, TABLE, columns, suffix=immutable.REGISTRY_SUFFIX, function=immutable.REGISTRY_FUNCTION
    )


def create_old_trigger(apps, schema_editor):
    _create(schema_editor, OLD_COLUMNS)


def create_new_trigger(apps, schema_editor):
    _create(schema_editor, NEW_COLUMNS)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0007_governance_event_types"),
        ("registry", "0006_tag_rows_and_version_list_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(drop_trigger, create_old_trigger),
        migrations.AddField(
            model_name="featuresetversion",
            name="job",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="core.job"
            ),
        ),
        migrations.AddField(
            model_name="featuresetversion",
            name="output_fingerprint",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="featuresetversion",
            name="row_count",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="featuresetversion",
            name="storage_location",
            field=models.CharField(blank=True, max_length=1024),
        ),
        migrations.AddConstraint(
            model_name="featuresetversion",
            constraint=models.UniqueConstraint(fields=("job",), name="feature_set_version_unique_job"),
        ),
        migrations.AddConstraint(
            model_name="featuresetversion",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("output_fingerprint", ""), ("output_fingerprint__regex", "^[0-9a-f]{64}$"), _connector="OR"
                ),
                name="feature_set_version_output_sha256",
            ),
        ),
        migrations.AddConstraint(
            model_name="featuresetversion",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("storage_location", ""), ("output_fingerprint", ""), ("row_count__isnull", True)),
                    models.Q(
                        models.Q(("storage_location", ""), _negated=True),
                        models.Q(("output_fingerprint", ""), _negated=True),
                        ("row_count__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="feature_set_version_output_complete",
            ),
        ),
        migrations.RunPython(create_new_trigger, drop_trigger),
    ]
