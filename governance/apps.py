from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # Gate checks that read the apps below (governance.gate.register_check on import).
        from governance.checks import audits, data_access, dpia, lineage  # noqa: F401
