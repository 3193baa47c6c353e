"""Database triggers that keep registered versions immutable: an UPDATE of any recorded column is refused.

Only ``status`` of a model version changes (through its transitions), and ``created_by`` may be cleared when a
user is deleted; every other column is written once. Deleting is left to ``on_delete=PROTECT`` on the parents.
"""

from django.db import migrations

from core.immutable import REGISTRY_FUNCTION, REGISTRY_SUFFIX, drop_function, install_frozen, remove_frozen

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
    install_frozen(schema_editor, FROZEN, suffix=REGISTRY_SUFFIX, function=REGISTRY_FUNCTION)


def remove(apps, schema_editor):
    remove_frozen(schema_editor, FROZEN, suffix=REGISTRY_SUFFIX)
    drop_function(schema_editor, REGISTRY_FUNCTION)


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_use_cases_datasets_models")]

    operations = [migrations.RunPython(install, remove)]
