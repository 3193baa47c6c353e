from django.apps import AppConfig


class ServingConfig(AppConfig):
    name = "serving"
    verbose_name = "Serving"

    def ready(self) -> None:
        # Compliance reaches prediction logs through its registries, never by importing serving: the logs as a
        # retention target and as records legal holds cover, and the subject finders of logs and decision records.
        from compliance.holds import register_facts
        from compliance.retention import register_target
        from compliance.subjects import register_subject_finder
        from serving.models import Deployment, PredictionLog
        from serving.retention import TARGET, deployment_facts, prediction_facts
        from serving.subject_logs import DECISIONS, PREDICTIONS, DecisionRecordsFinder, PredictionLogsFinder

        register_target(TARGET)
        register_facts(Deployment, deployment_facts)
        register_facts(PredictionLog, prediction_facts)
        register_subject_finder(PREDICTIONS, PredictionLogsFinder())
        register_subject_finder(DECISIONS, DecisionRecordsFinder())

        # Links from a finished batch-scoring job's page to the dataset version it registered.
        from serving import job_outputs

        job_outputs.register()

        # The dashboard's "deployed where" and the model page's deployments: core and the registry cannot import
        # serving.
        from registry.panels import register_panel
        from serving import dashboard

        dashboard.register()
        register_panel("model", dashboard.model_deployments_panel)
        # Its notification kinds (core.notifications.register_kind on import).
        from serving import notifications  # noqa: F401
