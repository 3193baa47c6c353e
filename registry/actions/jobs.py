"""Requests for the registry's Spark jobs: materializing a feature view, training a model.

Each checks everything that can be checked without reading the data (who asks, that the inputs belong to the
target's team or are another team's that a data access grant covers (registry.access), that they fit together,
that the definitions, the label and the parameters are valid) and then asks the job
layer for the job (core.jobs.dispatch_job: the job row and its audit event in this transaction, the message after
commit). A refused request writes nothing. The job re-reads its rows when it runs and checks the data itself
(registry.pipelines.io). Each returns ``(job, created)``: the same ``idempotency_key`` from the same user returns
the first job, with ``created`` False. docs/spark-jobs.md.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from core.idempotency import clean_idempotency_key
from core.jobs import dispatch_job
from core.models import Job
from registry.access import records_access_refusals, require_usable_versions, usable_dataset_versions
from registry.actions.rules import require, same_team
from registry.models import DatasetVersion, FeatureSetVersion, FeatureView, RegisteredModel
from registry.models.validators import validate_location
from registry.pipelines.feature_definitions import check_feature_view, entity_column
from registry.pipelines.io import UNAVAILABLE_FORMATS, DataError, resolve_location
from registry.pipelines.params import ALGORITHMS, InvalidParams, check_params
from registry.purges import purge_notice

MATERIALIZE_KIND = "registry.materialize_features"
TRAIN_KIND = "registry.train_model"
_LABEL_TYPES = frozenset({"boolean", "int8", "int16", "int32", "int64"})


def _pk(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError({field: "Must be the id of a dataset or feature-set version (a positive integer)."})
    return value


def _columns(version: DatasetVersion) -> dict[str, dict[str, Any]]:
    return {column["name"].casefold(): column for column in version.schema["columns"]}


def check_readable(version: DatasetVersion, field: str) -> None:
    """What can be told from the registry alone: a format Spark reads here, a location it can reach (and that the
    registry still accepts: its rules may have tightened since the dataset was registered). The request checks it,
    and the job again before it reads (workers.tasks). A version whose files were purged (registry.purges) is
    refused: they are gone."""
    dataset = version.dataset
    purged = purge_notice(version)
    if purged is not None:
        raise ValidationError({field: f"{version}: its files were {purged}."})
    if dataset.storage_format in UNAVAILABLE_FORMATS:
        raise ValidationError({field: f"{version}: {UNAVAILABLE_FORMATS[dataset.storage_format]}"})
    try:
        validate_location(dataset.location)
    except ValidationError as error:
        refused = f"The location {dataset.location!r} is refused: {' '.join(error.messages)}"
        raise ValidationError({field: f"{version}: {refused}"}) from None
    try:
        resolve_location(dataset.location, lake_root=str(settings.DATA_LAKE_ROOT))
    except DataError as error:
        raise ValidationError({field: f"{version}: {error.message}"}) from None


@records_access_refusals
@transaction.atomic
def do_request_materialization(
    feature_view: FeatureView,
    *,
    actor: User,
    dataset_version: Any,
    spine_dataset_version: Any = None,
    idempotency_key: Any = "",
    then_train: Any = None,
) -> tuple[Job, bool]:
    """Ask for a job that materializes ``feature_view`` from ``dataset_version`` (a version id of the view's source
    dataset) into a new feature-set version, computed at each row of the spine (``spine_dataset_version``: a
    version id of any dataset of the team holding the entity and event-time columns, and the labels target
    encodings need; by default every entity at each of its event times).

    The view's definitions are pinned in the job's parameters: editing the view meanwhile does not change the job.
    ``then_train`` (``{"model": id, "label", "algorithm", "params"?, "features"?}``) asks for a training job on the
    feature-set version once it is registered, as ``do_request_training`` would with those arguments (checked now
    as far as they can be without the data; the rest when the training job is requested).
    """
    require(actor, feature_view.team)
    key = clean_idempotency_key(idempotency_key)
    # Another team's dataset only while a data access grant covers it (registry.access).
    (source,) = usable_dataset_versions(feature_view.team, [_pk(dataset_version, "dataset_version")], "dataset_version")
    if source.dataset_id != feature_view.source_dataset_id:
        raise ValidationError(
            {
                "dataset_version": (
                    f"{source} is not a version of the view's source dataset {feature_view.source_dataset}."
                )
            }
        )
    check_readable(source, "dataset_version")
    spine = None
    if spine_dataset_version is not None:
        (spine,) = usable_dataset_versions(
            feature_view.team, [_pk(spine_dataset_version, "spine_dataset_version")], "spine_dataset_version"
        )
        check_readable(spine, "spine_dataset_version")
        missing = []
        if entity_column(feature_view, spine.schema) is None:
            missing.append(f"{feature_view.entity}_id (the entity key)")
        if feature_view.event_time_column.casefold() not in _columns(spine):
            missing.append(f"{feature_view.event_time_column} (the event time)")
        if missing:
            raise ValidationError(
                {"spine_dataset_version": f"{spine} lacks the column(s) a spine needs: {', '.join(missing)}."}
            )
    problems = check_feature_view(feature_view, source.schema, spine_schema=spine.schema if spine else None)
    if problems:
        raise ValidationError({"features": [f"{feature_view}: {problem}" for problem in problems]})
    chained = _clean_then_train(then_train, feature_view) if then_train is not None else None
    return dispatch_job(
        MATERIALIZE_KIND,
        actor=actor,
        team=feature_view.team,
        target=feature_view,
        params={
            "dataset_version": source.pk,
            "spine_dataset_version": spine.pk if spine else None,
            "features": feature_view.features,
            **({"then_train": chained} if chained else {}),
        },
        idempotency_key=key,
    )


THEN_TRAIN_KEYS = frozenset({"model", "label", "algorithm", "params", "features"})


def _check_algorithm(algorithm: Any, params: Any, algorithm_field: str, params_field: str) -> Any:
    """The algorithm is one training knows and its hyper-parameters fit it (checked as the job will check them);
    returns the parameters."""
    if algorithm not in ALGORITHMS:
        raise ValidationError({algorithm_field: f"{algorithm!r} is not one of {', '.join(ALGORITHMS)}."})
    try:
        check_params(algorithm, params)
    except InvalidParams as error:
        raise ValidationError({params_field: str(error)}) from None
    return params


def _clean_then_train(value: Any, feature_view: FeatureView) -> dict[str, Any]:
    if not isinstance(value, dict) or not {"model", "label", "algorithm"} <= value.keys():
        raise ValidationError({"then_train": 'An object with "model", "label" and "algorithm".'})
    unknown = sorted(set(value) - THEN_TRAIN_KEYS)
    if unknown:
        raise ValidationError({"then_train": f"Unknown field(s): {', '.join(unknown)}."})
    (model,) = same_team(
        RegisteredModel.objects.all(), "team", feature_view.team, [_pk(value["model"], "then_train")], "then_train"
    )
    params = _check_algorithm(value["algorithm"], value.get("params") or {}, "then_train", "then_train")
    if not isinstance(value["label"], str) or not value["label"]:
        raise ValidationError({"then_train": "Name the label column."})
    return {**value, "model": model.pk, "params": params}


@records_access_refusals
@transaction.atomic
def do_request_training(
    model: RegisteredModel,
    *,
    actor: User,
    feature_set_version: Any,
    label: Any,
    algorithm: Any,
    params: Any = None,
    features: Any = None,
    idempotency_key: Any = "",
) -> tuple[Job, bool]:
    """Ask for a job that trains a binary classifier of ``algorithm`` on a materialized feature-set version of the
    model's team, predicting ``label`` from ``features`` (all the version's features by default), and registers
    the ONNX export as the model's next version.

    The label must be a column of a dataset version the feature set was built from (the spine carries it into the
    materialized rows), of type boolean or integer; that it holds exactly two classes is checked on the data when
    the job runs.
    """

    require(actor, model.team)
    key = clean_idempotency_key(idempotency_key)
    (feature_set,) = same_team(
        FeatureSetVersion.objects.select_related("feature_view"),
        "feature_view__team",
        model.team,
        [_pk(feature_set_version, "feature_set_version")],
        "feature_set_version",
    )
    # Trained on another team's data only while a grant still covers every dataset the feature set was built from.
    require_usable_versions(
        model.team, feature_set.dataset_versions.select_related("dataset__team"), "feature_set_version"
    )
    if not feature_set.storage_location:
        raise ValidationError(
            {
                "feature_set_version": f"{feature_set} was registered by hand and holds no data: train on a version a "
                "materialization job wrote."
            }
        )
    params = _check_algorithm(algorithm, {} if params is None else params, "algorithm", "params")
    feature_names = [feature["name"] for feature in feature_set.features]
    if features is None:
        chosen = feature_names
    else:
        if not isinstance(features, list) or not features or not all(isinstance(name, str) for name in features):
            raise ValidationError({"features": "Must be a non-empty list of feature names."})
        unknown = [name for name in features if name not in feature_names]
        if unknown:
            raise ValidationError({"features": f"Not features of {feature_set}: {', '.join(unknown)}."})
        if len(set(features)) != len(features):
            raise ValidationError({"features": "A feature is listed twice."})
        chosen = features
    if not isinstance(label, str) or not label:
        raise ValidationError({"label": "Name the label column."})
    if label in chosen:
        raise ValidationError({"label": f"{label!r} is also a feature: a model may not read its own label."})
    label_type = None
    for version in feature_set.dataset_versions.order_by("pk"):
        column = _columns(version).get(label.casefold())
        if column is not None:
            label_type = column["type"]
            break
    if label_type is None:
        raise ValidationError(
            {"label": f"{label!r} is not a column of {feature_set} or of the data it was built from."}
        )
    if label_type not in _LABEL_TYPES:
        raise ValidationError(
            {"label": f"{label!r} is {label_type}; a binary label is boolean or an integer column holding 0 and 1."}
        )
    return dispatch_job(
        TRAIN_KIND,
        actor=actor,
        team=model.team,
        target=model,
        params={
            "feature_set_version": feature_set.pk,
            "label": label,
            "algorithm": algorithm,
            "params": params,
            "features": chosen,
        },
        idempotency_key=key,
    )
