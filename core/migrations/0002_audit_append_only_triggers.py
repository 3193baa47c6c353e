from typing import Any

from django.db import migrations

from core import audit_triggers


def install(apps: Any, schema_editor: Any) -> None:
    audit_triggers.install(schema_editor.connection)


def remove(apps: Any, schema_editor: Any) -> None:
    audit_triggers.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
