from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        # Compliance's own subject finder (rows of registered dataset versions; higher apps register theirs), and
        # the links from its jobs' pages back to the request.
        from compliance.actions.subjects import ERASE_JOB, SEARCH_JOB
        from compliance.subject_datasets import KIND, DatasetRowsFinder
        from compliance.subject_views import job_output_links
        from compliance.subjects import register_subject_finder
        from core.jobs import register_output_links

        register_subject_finder(KIND, DatasetRowsFinder())
        register_output_links(SEARCH_JOB, job_output_links)
        register_output_links(ERASE_JOB, job_output_links)
