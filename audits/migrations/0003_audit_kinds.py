"""Proxy detection and validation reports: two more kinds. SQLite rebuilds the table to change a CHECK constraint,
which drops its triggers, so the frozen-row triggers of 0002 are taken off first and put back after."""

from django.db import migrations, models

from audits.migrations import _frozen


class Migration(migrations.Migration):
    dependencies = [("audits", "0002_frozen_reports")]

    operations = [
        _frozen.unfreeze(),
        migrations.RemoveConstraint(model_name="auditreport", name="audit_report_kind"),
        migrations.AlterField(
            model_name="auditreport",
            name="kind",
            field=models.CharField(
                choices=[("fairness", "Fairness"), ("proxy", "Proxy detection"), ("validation", "Validation")],
                max_length=32,
            ),
        ),
        migrations.AddConstraint(
            model_name="auditreport",
            constraint=models.CheckConstraint(
                condition=models.Q(("kind__in", ["fairness", "proxy", "validation"])), name="audit_report_kind"
            ),
        ),
        _frozen.freeze(),
    ]
