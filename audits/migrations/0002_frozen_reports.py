"""Audit reports are written once: every column is frozen (created_by is cleared by SET_NULL when a user is deleted,
so it is left out)."""

from django.db import migrations

from core.immutable import install_frozen, remove_frozen

FROZEN = {
    "audits_auditreport": [
        "kind", "model_version_id", "dataset_version_id", "artifact_sha256", "dataset_fingerprint", "parameters",
        "thresholds", "code_version", "results", "checks", "verdict", "digest", "job_id", "created_at",
    ],
}


class Migration(migrations.Migration):
    dependencies = [("audits", "0001_audit_reports")]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: install_frozen(schema_editor, FROZEN),
            lambda apps, schema_editor: remove_frozen(schema_editor, FROZEN),
        )
    ]
