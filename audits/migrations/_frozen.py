"""The audit report's frozen columns (migration 0002), and operations that take its triggers off and put them back
around a migration that rebuilds the table on SQLite."""

from django.db import migrations

from core.immutable import install_frozen, remove_frozen

FROZEN = {
    "audits_auditreport": [
        "kind", "model_version_id", "dataset_version_id", "artifact_sha256", "dataset_fingerprint", "parameters",
        "thresholds", "code_version", "results", "checks", "verdict", "digest", "job_id", "created_at",
    ],
}  # fmt: skip


def freeze() -> migrations.RunPython:
    return migrations.RunPython(
        lambda apps, schema_editor: install_frozen(schema_editor, FROZEN),
        lambda apps, schema_editor: remove_frozen(schema_editor, FROZEN),
    )


def unfreeze() -> migrations.RunPython:
    return migrations.RunPython(
        lambda apps, schema_editor: remove_frozen(schema_editor, FROZEN),
        lambda apps, schema_editor: install_frozen(schema_editor, FROZEN),
    )
