"""Policy versions, approvals and gate evaluations are written once; a release's request and manifest too (only
its status and withdrawal change)."""

from django.db import migrations

from core.immutable import install_frozen, remove_frozen

FROZEN = {
    "governance_releasepolicyversion": [
        "policy_id", "number", "required_roles", "min_total", "approval_valid_days", "required_checks", "note",
        "created_at",
    ],
    "governance_release": [
        "uid", "model_version_id", "environment_id", "policy_version_id", "requested_by_id", "requested_at", "nonce",
        "justification", "manifest", "manifest_digest",
    ],
    "governance_approval": [
        "release_id", "signer_id", "signer_name", "key_id", "board_role", "decision", "comment", "manifest_digest",
        "manifest", "envelope", "payload_sha256", "signed_via", "received_at", "claimed_signed_at",
    ],
    "governance_gateevaluation": [
        "release_id", "purpose", "passed", "checks", "manifest_digest", "evaluated_at", "duration_ms",
    ],
}


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_boards_policies_keys_releases")]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: install_frozen(schema_editor, FROZEN),
            lambda apps, schema_editor: remove_frozen(schema_editor, FROZEN),
        )
    ]
