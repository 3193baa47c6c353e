"""A model version registered by a training job records the job (one version per job: a retried job finds its
version instead of registering a second), and a use case may state what a false positive and a false negative cost.

The new ``job_id`` column is frozen like the others: the immutability trigger of 0002 is dropped before the table
changes (SQLite rebuilds the table to add a unique column, which drops its triggers) and created again over all
recorded columns afterwards.
"""

import django.db.models.deletion
from django.db import migrations, models

import registry.models.use_cases
from core import immutable

TABLE = "registry_modelversion"
OLD_COLUMNS = (
    "model_id",
    "number",
    "artifact_sha256",
    "artifact_size",
    "artifact_filename",
    "interface",
    "training_params",
    "metrics",
    "description",
    "created_at",
)
NEW_COLUMNS = (*OLD_COLUMNS, "job_id")


def drop_trigger(apps, schema_editor):
    immutable.drop_trigger(schema_editor, TABLE, suffix=immutable.REGISTRY_SUFFIX)


def _create(schema_editor, columns):
    # On PostgreSQL the function was created by 0002.
    immutable.create_trigger(
        schema_editor, TABLE, columns, suffix=immutable.REGISTRY_SUFFIX, function=immutable.REGISTRY_FUNCTION
    )


def create_new_trigger(apps, schema_editor):
    _create(schema_editor, NEW_COLUMNS)


def create_old_trigger(apps, schema_editor):
    _create(schema_editor, OLD_COLUMNS)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0007_governance_event_types"),
        ("registry", "0007_feature_set_version_job_outputs"),
    ]

    operations = [
        migrations.RunPython(drop_trigger, create_old_trigger),
        migrations.AddField(
            model_name="modelversion",
            name="job",
            field=models.OneToOneField(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="model_version",
                to="core.job",
            ),
        ),
        migrations.RunPython(create_new_trigger, drop_trigger),
        migrations.AddField(
            model_name="usecase",
            name="cost_false_negative",
            field=models.FloatField(blank=True, null=True, validators=[registry.models.use_cases.validate_cost]),
        ),
        migrations.AddField(
            model_name="usecase",
            name="cost_false_positive",
            field=models.FloatField(blank=True, null=True, validators=[registry.models.use_cases.validate_cost]),
        ),
        migrations.AddConstraint(
            model_name="usecase",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("cost_false_negative__isnull", True), ("cost_false_positive__isnull", True)),
                    models.Q(
                        ("cost_false_negative__gte", 0),
                        ("cost_false_negative__isnull", False),
                        ("cost_false_positive__gte", 0),
                        ("cost_false_positive__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="use_case_costs_both_or_neither",
                violation_error_message="Give both cost_false_positive and cost_false_negative (zero or more), or neither.",
            ),
        ),
    ]
