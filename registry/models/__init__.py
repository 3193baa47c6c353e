from registry.models.datasets import Dataset, DatasetVersion
from registry.models.features import FeatureSetVersion, FeatureView
from registry.models.registered_models import ModelVersion, ModelVersionTransition, RegisteredModel
from registry.models.use_cases import KpiObservation, UseCase

__all__ = [
    "Dataset",
    "DatasetVersion",
    "FeatureSetVersion",
    "FeatureView",
    "KpiObservation",
    "ModelVersion",
    "ModelVersionTransition",
    "RegisteredModel",
    "UseCase",
]
