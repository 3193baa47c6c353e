from django.apps import AppConfig


class ServingConfig(AppConfig):
    name = "serving"
    verbose_name = "Serving"

    def ready(self) -> None:
        # Links from a finished batch-scoring job's page to the dataset version it registered.
        from serving import job_outputs

        job_outputs.register()
