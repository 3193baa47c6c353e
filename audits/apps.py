from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"
    verbose_name = "Audits"

    def ready(self) -> None:
        from audits import explanation, fairness, job_outputs, proxy, validation  # noqa: F401 (each registers its kind)

        job_outputs.register()
        from audits import panels  # noqa: F401 (registers the model version page's audits panel)
