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
