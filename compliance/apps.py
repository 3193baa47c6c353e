from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        # The registry shows and enforces purges (410 on a purged artifact) without importing compliance.
        from compliance.retention import purge_of
        from registry.purges import register_purge_notice

        def notice(record: object) -> str | None:
            purge = purge_of(record)  # type: ignore[arg-type]
            return purge.notice if purge is not None else None

        register_purge_notice(notice)

        # Compliance's own subject finder (rows of registered dataset versions; higher apps register theirs), legal
        # holds as what keeps records from an erasure, and the links from its jobs' pages back to the request.
        from compliance.actions.subjects import ERASE_JOB, SEARCH_JOB
        from compliance.subject_datasets import KIND, DatasetRowsFinder
        from compliance.subject_holds import NAME, legal_holds_keeper
        from compliance.subject_views import job_output_links
        from compliance.subjects import register_erasure_keeper, register_subject_finder
        from core.jobs import register_output_links

        register_subject_finder(KIND, DatasetRowsFinder())
        register_erasure_keeper(NAME, legal_holds_keeper)
        register_output_links(SEARCH_JOB, job_output_links)
        register_output_links(ERASE_JOB, job_output_links)

        # What comes due (DPIA reviews, grant expiries) on the dashboard: core cannot import compliance.
        from compliance import dashboard

        dashboard.register()
        # Another team's dataset is usable by a team only while an approved, unexpired data access grant covers it
        # (registry.access; docs/grants.md).
        from compliance.grants import granted_dataset_ids
        from registry.access import register_dataset_access

        register_dataset_access(granted_dataset_ids)
        # Its notification kinds (core.notifications.register_kind on import).
        from compliance import notifications  # noqa: F401
