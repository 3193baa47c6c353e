from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # Gate checks that read the apps below register themselves on import.
        from governance.checks import dpia  # noqa: F401
