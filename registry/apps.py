from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"

    def ready(self) -> None:
        from registry import dashboard, job_outputs

        job_outputs.register()
        dashboard.register()
