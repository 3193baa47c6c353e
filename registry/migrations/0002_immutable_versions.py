"""Database triggers that keep registered versions immutable: an UPDATE of any recorded column is refused.

Only ``status`` of a model version changes (through its transitions), and ``created_by`` may be cleared when a
user is deleted; every other column is written once. Deleting is left to ``on_delete=PROTECT`` on the parents.
"""

from django.db import migrations

FROZEN = {
    "registry_datasetversion": [
        "dataset_id", "number", "schema", "schema_fingerprint", "content_fingerprint", "fingerprint_source",
        "row_count", "evolution", "breaking_change", "description", "created_at",
    ],
    "registry_modelversion": [
        "model_id", "number", "artifact_sha256", "artifact_size", "artifact_filename", "interface",
        "training_params", "metrics", "description", "created_at",
    ],
    "registry_modelversiontransition": [
        "version_id", "from_status", "to_status", "reason", "actor_name", "occurred_at",
    ],
}


def install(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                """CREATE OR REPLACE FUNCTION assay_registry_immutable() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION '% rows are immutable: UPDATE refused', TG_TABLE_NAME
                        USING ERRCODE = 'insufficient_privilege';
                END;
                $$ LANGUAGE plpgsql"""
            )
        for table, columns in FROZEN.items():
            listed = ", ".join(columns)
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OF {listed} ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION assay_registry_immutable()"
                )
            elif connection.vendor == "sqlite":
                cursor.execute(
                    f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OF {listed} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} rows are immutable: UPDATE refused'); END"
                )


def remove(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for table in FROZEN:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
            elif connection.vendor == "sqlite":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_immutable")
        if connection.vendor == "postgresql":
            cursor.execute("DROP FUNCTION IF EXISTS assay_registry_immutable()")


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_use_cases_datasets_models")]

    operations = [migrations.RunPython(install, remove)]
