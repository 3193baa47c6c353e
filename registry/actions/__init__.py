"""Every write to the registry goes through one of these functions.

Each is atomic, takes the acting user as the keyword-only ``actor``, validates with ``full_clean()`` and writes its
audit event inside the same transaction (see core.actions). Refusals an investigator would want to see (a breaking
schema change, a file that is not a model) raise ``core.refusals.Refusal``; the action records it in a transaction of
its own, after the refused one rolled back, whoever called it. One module per aggregate; the rules they share are in
``rules``, the editable fields of each object in ``registry.editable``.
"""

from registry import artifacts
from registry.actions.dataset_files import do_pin_dataset_files, do_record_data_change
from registry.actions.datasets import (
    do_create_dataset,
    do_register_dataset_version,
    do_update_dataset,
)
from registry.actions.features import (
    do_create_feature_view,
    do_record_feature_set_corruption,
    do_register_feature_set_version,
    do_update_feature_view,
)
from registry.actions.jobs import (
    do_request_materialization,
    do_request_training,
)
from registry.actions.registered_models import (
    do_change_version_status,
    do_create_model,
    do_record_artifact_corruption,
    do_register_model_version,
    do_update_model,
    record_release_transition,
)
from registry.actions.rules import (
    DEFAULT_MAX_ARTIFACT_BYTES,
    max_artifact_bytes,
)
from registry.actions.use_cases import (
    do_create_use_case,
    do_record_kpi_observation,
    do_update_use_case,
)

__all__ = [
    "DEFAULT_MAX_ARTIFACT_BYTES",
    "artifacts",
    "do_change_version_status",
    "do_create_dataset",
    "do_create_feature_view",
    "do_create_model",
    "do_create_use_case",
    "do_pin_dataset_files",
    "do_record_artifact_corruption",
    "do_record_data_change",
    "do_record_feature_set_corruption",
    "do_record_kpi_observation",
    "do_register_dataset_version",
    "do_register_feature_set_version",
    "do_register_model_version",
    "do_request_materialization",
    "do_request_training",
    "do_update_dataset",
    "do_update_feature_view",
    "do_update_model",
    "do_update_use_case",
    "max_artifact_bytes",
    "record_release_transition",
]
