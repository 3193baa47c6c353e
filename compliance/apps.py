from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        # Compliance's own subject finder: rows of registered dataset versions (higher apps register theirs).
        from compliance.subject_datasets import KIND, DatasetRowsFinder
        from compliance.subjects import register_subject_finder

        register_subject_finder(KIND, DatasetRowsFinder())
