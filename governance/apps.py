from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # Gate checks that read the apps below (governance.gate.register_check on import).
        # Its notification kinds (core.notifications.register_kind on import).
        from governance import notifications  # noqa: F401
        from governance.checks import audits, dpia, lineage  # noqa: F401
