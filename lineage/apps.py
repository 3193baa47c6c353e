from django.apps import AppConfig


class LineageConfig(AppConfig):
    name = "lineage"
    verbose_name = "Lineage"

    def ready(self) -> None:
        # The forwarding settings' system checks (lineage.E001-E003).
        from lineage import checks  # noqa: F401
