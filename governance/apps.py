from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # Gate checks that read the apps below (governance.gate.register_check on import).
        # The dashboard's sections and the model page's releases: core and the registry cannot import governance.
        from governance import dashboard, panels
        from governance.checks import audits, data_access, dpia, explanations, lineage  # noqa: F401
        from registry.panels import register_panel

        dashboard.register()
        register_panel("model", panels.model_releases_panel)
        # Its notification kinds (core.notifications.register_kind on import).
        from governance import notifications  # noqa: F401
