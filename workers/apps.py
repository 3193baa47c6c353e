from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Background jobs"

    def ready(self) -> None:
        # Registers every job kind with the job layer (core.jobs) and the Celery tasks that run them, and the
        # worker's start-up sweep of interrupted jobs, and the check that Spark has a Java to run on.
        from core.jobs import register_finish_hook
        from workers import (  # noqa: F401 (importing each module registers its job kinds)
            audits,
            audits_explain,
            audits_proxy,
            audits_validation,
            batch_scoring,
            checks,
            lineage,
            notifications,
            runner,
            signals,
            subject_jobs,
            tasks,
        )

        # What each job kind reads and writes, for the lineage its runs emit (lineage.emit), and the final event of
        # a job's run whichever path ends the job.
        lineage.register()
        register_finish_hook(runner.close_run)
