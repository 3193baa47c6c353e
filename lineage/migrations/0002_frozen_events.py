"""Raw events and the state transitions folded from them are written once."""

from django.db import migrations

from core.immutable import install_frozen, remove_frozen

FROZEN = {
    "lineage_lineageevent": [
        "digest", "kind", "event_type", "event_time", "namespace_id", "team_id", "run_id", "job_name",
        "dataset_name", "producer", "schema_url", "payload", "source", "received_at",
    ],
    "lineage_runtransition": ["run_id", "state", "event_time", "event_id"],
}


class Migration(migrations.Migration):
    dependencies = [("lineage", "0001_graph_and_events")]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: install_frozen(schema_editor, FROZEN),
            lambda apps, schema_editor: remove_frozen(schema_editor, FROZEN),
        )
    ]
