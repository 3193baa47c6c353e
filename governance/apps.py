from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # Gate checks of the apps below governance register themselves on import.
        from governance.checks import audits  # noqa: F401
