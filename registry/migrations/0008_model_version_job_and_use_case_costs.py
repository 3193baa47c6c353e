"""A model version registered by a training job records the job (one version per job: a retried job finds its
version instead of registering a second), and a use case may state what a false positive and a false negative cost.

The new ``job_id`` column is frozen like the others: the immutability trigger of 0002 is dropped before the table
changes (SQLite rebuilds the table to add a unique column, which drops its triggers) and created again over all
recorded columns afterwards.
"""

import django.db.models.deletion
from django.db import migrations, models

import registry.models.use_cases

TABLE = "registry_modelversion"
OLD_COLUMNS = (
    "model_id, number, artifact_sha256, artifact_size, artifact_filename, interface, training_params, metrics, "
    "description, created_at"
)
NEW_COLUMNS = f"{OLD_COLUMNS}, job_id"


def _drop(schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_immutable ON {TABLE}")
        elif connection.vendor == "sqlite":
            cursor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_immutable")


def _create(schema_editor, columns):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The function was created by 0002.
            cursor.execute(
                f"CREATE TRIGGER {TABLE}_immutable BEFORE UPDATE OF {columns} ON {TABLE} "
                "FOR EACH ROW EXECUTE FUNCTION assay_registry_immutable()"
            )
        elif connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER {TABLE}_immutable BEFORE UPDATE OF {columns} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{TABLE} rows are immutable: UPDATE refused'); END"
            )


def drop_trigger(apps, schema_editor):
    _drop(schema_editor)


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
