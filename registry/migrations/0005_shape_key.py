from typing import Any

from django.db import migrations, models

from registry.naming import shape_key

MODELS = ("usecase", "dataset", "registeredmodel")


def fill_shape_keys(apps: Any, schema_editor: Any) -> None:
    for name in MODELS:
        model = apps.get_model("registry", name)
        for row in model.objects.all():
            row.shape_key = shape_key(row.name)
            row.save(update_fields=["shape_key"])


class Migration(migrations.Migration):
    dependencies = [("registry", "0004_immutable_feature_set_versions")]

    operations = [
        *(
            migrations.AddField(
                model_name=name,
                name="shape_key",
                field=models.CharField(default="", editable=False, max_length=512),
                preserve_default=False,
            )
            for name in MODELS
        ),
        migrations.RunPython(fill_shape_keys, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="usecase",
            constraint=models.UniqueConstraint(fields=("team", "shape_key"), name="use_case_unique_shape_per_team"),
        ),
        migrations.AddConstraint(
            model_name="dataset",
            constraint=models.UniqueConstraint(fields=("team", "shape_key"), name="dataset_unique_shape_per_team"),
        ),
        migrations.AddConstraint(
            model_name="registeredmodel",
            constraint=models.UniqueConstraint(fields=("team", "shape_key"), name="registered_model_unique_shape"),
        ),
    ]
