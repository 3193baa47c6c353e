"""Feature-set versions are immutable like the other versions (see 0002): an UPDATE of a recorded column is refused."""

from django.db import migrations

from core.immutable import REGISTRY_FUNCTION, REGISTRY_SUFFIX, create_trigger, drop_trigger

TABLE = "registry_featuresetversion"
COLUMNS = ("feature_view_id", "number", "features", "fingerprint", "statistics", "description", "created_at")


def install(apps, schema_editor):
    # On PostgreSQL the function was created by 0002.
    create_trigger(schema_editor, TABLE, COLUMNS, suffix=REGISTRY_SUFFIX, function=REGISTRY_FUNCTION)


def remove(apps, schema_editor):
    drop_trigger(schema_editor, TABLE, suffix=REGISTRY_SUFFIX)


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_feature_views_and_feature_sets")]

    operations = [migrations.RunPython(install, remove)]
