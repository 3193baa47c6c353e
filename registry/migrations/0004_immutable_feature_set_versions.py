"""Feature-set versions are immutable like the other versions (see 0002): an UPDATE of a recorded column is refused."""

from django.db import migrations

TABLE = "registry_featuresetversion"
COLUMNS = "feature_view_id, number, features, fingerprint, statistics, description, created_at"


def install(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The function was created by 0002.
            cursor.execute(
                f"CREATE TRIGGER {TABLE}_immutable BEFORE UPDATE OF {COLUMNS} ON {TABLE} "
                "FOR EACH ROW EXECUTE FUNCTION assay_registry_immutable()"
            )
        elif connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER {TABLE}_immutable BEFORE UPDATE OF {COLUMNS} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{TABLE} rows are immutable: UPDATE refused'); END"
            )


def remove(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_immutable ON {TABLE}")
        elif connection.vendor == "sqlite":
            cursor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_immutable")


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_feature_views_and_feature_sets")]

    operations = [migrations.RunPython(install, remove)]
