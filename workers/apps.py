from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Background jobs"

    def ready(self) -> None:
        # Registers every job kind with the job layer (core.jobs) and the Celery tasks that run them, and the
        # worker's start-up sweep of interrupted jobs, and the check that Spark has a Java to run on.
        from workers import checks, signals, subject_jobs, tasks  # noqa: F401
