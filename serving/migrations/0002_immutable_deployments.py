"""A deployment is history: written once."""

from django.db import migrations

from core.immutable import install_frozen, remove_frozen

FROZEN = {
    "serving_deployment": [
        "environment_id", "release_id", "gate_evaluation_id", "model_id", "model_version_id", "replaces_id",
        "is_rollback", "deployed_by_id", "deployed_at", "idempotency_key",
    ],
}


class Migration(migrations.Migration):
    dependencies = [("serving", "0001_deployments"), ("governance", "0002_immutable_rows")]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: install_frozen(schema_editor, FROZEN),
            lambda apps, schema_editor: remove_frozen(schema_editor, FROZEN),
        )
    ]
