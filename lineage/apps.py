from django.apps import AppConfig


class LineageConfig(AppConfig):
    name = "lineage"
    verbose_name = "Lineage"

    def ready(self) -> None:
        # The forwarding settings' system checks (lineage.E001-E003).
        # The registry's pages show each object's upstream and downstream (registry.panels).
        from lineage import (
            checks,  # noqa: F401
            views,
        )
        from registry import panels

        panels.register_panel("dataset", views.dataset_panel)
        panels.register_panel("feature_set_version", views.feature_set_version_panel)
        panels.register_panel("model_version", views.model_version_panel)
