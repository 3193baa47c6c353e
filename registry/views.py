"""The registry's pages for compliance officers: models, datasets and use cases, read-only.

Every page reads through ``Model.objects.restrict(user)``, so another team's object is a 404 exactly like a missing
one. Nothing here writes: registration and lifecycle changes go through the API and the CLI (registry.actions).
List pages run a fixed number of queries whatever the number of rows (tests/registry/test_ui.py checks it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import CharField, Count, Exists, Max, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from core.models import AuditEvent, Membership, Team
from registry.choices import Classification, RiskTier, VersionStatus
from registry.filtersets import DatasetFilterSet, RegisteredModelFilterSet, UseCaseFilterSet
from registry.models import (
    Dataset,
    DatasetVersion,
    KpiObservation,
    ModelVersion,
    ModelVersionTransition,
    RegisteredModel,
    UseCase,
)

PAGE_SIZE = 50
VERSION_PAGE_SIZE = 50
AUDIT_TRAIL_SIZE = 50
HISTORY_SIZE = 100

# The privacy flags of a schema column, in the order the schema table shows them, with the words it shows:
# a marker is always text (and a tooltip says what it means), never a colour alone.
PRIVACY_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("personal_data", "Personal data", "Relates to an identified or identifiable person (GDPR art. 4)."),
    ("special_category", "Special category", "Special-category personal data (GDPR art. 9): health, ethnicity..."),
    ("protected_attribute", "Protected attribute", "A characteristic fairness is measured against."),
    ("prohibited_input", "Prohibited input", "Must not be used as a model input."),
)

CHANGE_KIND_LABELS = {
    "column_added": "Column added",
    "column_dropped": "Column dropped",
    "column_renamed": "Column renamed",
    "type_widened": "Type widened",
    "type_changed": "Type changed",
    "nullability_relaxed": "Nullability relaxed",
    "nullability_tightened": "Nullability tightened",
    "flag_added": "Privacy flag added",
    "flag_removed": "Privacy flag removed",
    "description_changed": "Description changed",
}


def _query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def _filtered(request: HttpRequest) -> bool:
    return any(value for key, value in request.GET.items() if key != "page")


def _as_text(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """The primary keys as text, as a subquery: the audit log stores an object's id in a text column."""
    return queryset.annotate(pk_text=Cast("pk", CharField())).values("pk_text")


def _audit_trail(request: HttpRequest, team: Team, targets: Iterable[tuple[str, Any]], link: tuple[str, Any]) -> Any:
    """The newest audit events about the given objects that the user may read, with a link to the full log.

    ``targets`` pairs an object type (``registry.registeredmodel``) with one id or a subquery of ids (as text);
    ``link`` names the main object, whose events the audit log page filters on.
    """
    user = request.user
    readable = (
        user.is_superuser
        or Membership.objects.filter(
            user_id=user.pk or 0, team=team, role__in=AuditEvent.access_policy["view"]
        ).exists()
    )
    condition = Q()
    for target_type, ids in targets:
        lookup = "target_id__in" if isinstance(ids, QuerySet) else "target_id"
        condition |= Q(target_type=target_type, **{lookup: ids if isinstance(ids, QuerySet) else str(ids)})
    events = AuditEvent.objects.restrict(user).filter(condition)
    rows = list(events[: AUDIT_TRAIL_SIZE + 1]) if readable else []
    return {
        "readable": readable,
        "events": rows[:AUDIT_TRAIL_SIZE],
        "more": len(rows) > AUDIT_TRAIL_SIZE,
        "log_query": urlencode({"target_type": link[0], "target_id": str(link[1])}),
    }


def _filterset(request: HttpRequest, filterset_class: Any, queryset: QuerySet[Any]) -> tuple[Any, QuerySet[Any], bool]:
    filterset = filterset_class(request.GET or None, queryset=queryset)
    valid = filterset.is_valid() if filterset.is_bound else True
    return filterset, (filterset.qs if valid else queryset.none()), valid


def _visible_teams(request: HttpRequest) -> Any:
    return Team.objects.restrict(request.user).order_by("name").values_list("slug", "name")


# --- Models -------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    latest = ModelVersion.objects.filter(model=OuterRef("pk")).order_by("-number")
    models = (
        RegisteredModel.objects.restrict(request.user)
        .select_related("team", "owner", "use_case")
        .annotate(
            version_count=Count("versions"),
            latest_number=Max("versions__number"),
            latest_status=Subquery(latest.values("status")[:1]),
        )
        .prefetch_related(
            Prefetch(
                "versions",
                queryset=ModelVersion.objects.filter(status=VersionStatus.DEPLOYED).only("id", "model_id", "number"),
                to_attr="deployed_versions",
            )
        )
        .order_by("name", "team__slug", "pk")
    )
    filterset, rows, valid = _filterset(request, RegisteredModelFilterSet, models)
    status = request.GET.get("status", "")
    if status in VersionStatus.values:
        rows = rows.filter(Exists(ModelVersion.objects.filter(model=OuterRef("pk"), status=status)))
    elif status:
        valid = False
        rows = rows.none()
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "section": "models",
        "page": page,
        "form": filterset.form,
        "query": _query_without_page(request),
        "filtered": _filtered(request),
        "status": status,
        "statuses": VersionStatus.choices,
        "teams": _visible_teams(request),
        "valid": valid,
    }
    return render(request, "registry/model_list.html", context, status=200 if valid else 400)


def _visible_model(request: HttpRequest, pk: int) -> RegisteredModel:
    queryset = RegisteredModel.objects.restrict(request.user).select_related("team", "owner", "use_case", "created_by")
    return get_object_or_404(queryset, pk=pk)


@login_required
@require_GET
def model_detail(request: HttpRequest, pk: int) -> HttpResponse:
    model = _visible_model(request, pk)
    versions = (
        ModelVersion.objects.restrict(request.user)
        .filter(model=model)
        .select_related("created_by")
        .prefetch_related(Prefetch("dataset_versions", queryset=DatasetVersion.objects.select_related("dataset")))
        .order_by("-number")
    )
    page = Paginator(versions, VERSION_PAGE_SIZE).get_page(request.GET.get("page"))
    transitions = (
        ModelVersionTransition.objects.restrict(request.user)
        .filter(version__model=model)
        .select_related("version")
        .order_by("-occurred_at", "-id")
    )
    history = list(transitions[: HISTORY_SIZE + 1])
    use_case = model.use_case if model.use_case_id and _can_see(request, UseCase, model.use_case_id) else None
    context = {
        "section": "models",
        "model": model,
        "use_case": use_case,
        "page": page,
        "query": _query_without_page(request),
        "version_rows": [{"version": v, "metrics": _flat_metrics(v.metrics)[:4]} for v in page.object_list],
        "status_counts": _status_counts(model),
        "transitions": history[:HISTORY_SIZE],
        "history_more": len(history) > HISTORY_SIZE,
        "trail": _audit_trail(
            request,
            model.team,
            [
                ("registry.registeredmodel", model.pk),
                ("registry.modelversion", _as_text(ModelVersion.objects.filter(model=model))),
            ],
            ("registry.registeredmodel", model.pk),
        ),
    }
    return render(request, "registry/model_detail.html", context)


def _can_see(request: HttpRequest, model_class: Any, pk: int) -> bool:
    return bool(model_class.objects.restrict(request.user).filter(pk=pk).exists())


def _status_counts(model: RegisteredModel) -> list[tuple[str, str, int]]:
    counts = dict(model.versions.values_list("status").annotate(n=Count("id")).order_by())
    return [(value, label, counts[value]) for value, label in VersionStatus.choices if counts.get(value)]


def _flat_metrics(metrics: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``{"test": {"auc": 0.9}}`` as ``[("test.auc", "0.9")]``, sorted by name: PostgreSQL's JSONB does not keep
    the order the client sent, so any other order would differ between databases."""
    rows: list[tuple[str, Any]] = []
    if not isinstance(metrics, dict):
        return rows
    for key, value in sorted(metrics.items(), key=lambda item: (str(item[0]).casefold(), str(item[0]))):
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_flat_metrics(value, f"{name}."))
        elif isinstance(value, list):
            rows.append((name, json.dumps(value, ensure_ascii=False)))
        else:
            rows.append((name, _number(value)))
    return rows


def _number(value: Any) -> Any:
    """A number as people read it: ``12`` for 12.0, ``0.934`` for 0.934, six significant digits at most."""
    if isinstance(value, float) and math.isfinite(value):
        return format(value, ".6g")
    return value


def _shape(shape: Any) -> str:
    if shape is None:
        return "unknown rank"
    if not isinstance(shape, list):
        return str(shape)
    return "[" + ", ".join("?" if dim is None else str(dim) for dim in shape) + "]"


def _contract_rows(items: Any) -> list[dict[str, Any]]:
    rows = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            rows.append({**item, "shape_text": _shape(item.get("shape"))})
    return rows


@login_required
@require_GET
def model_version_detail(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    model = _visible_model(request, pk)
    version = get_object_or_404(
        ModelVersion.objects.restrict(request.user).select_related("created_by").prefetch_related("authors"),
        model=model,
        number=number,
    )
    interface = version.interface if isinstance(version.interface, dict) else {}
    trained_on = (
        DatasetVersion.objects.restrict(request.user)
        .filter(model_versions=version)
        .select_related("dataset__team")
        .order_by("dataset__name", "-number")
    )
    context = {
        "section": "models",
        "model": model,
        "version": version,
        "inputs": _contract_rows(interface.get("inputs")),
        "outputs": _contract_rows(interface.get("outputs")),
        "interface": interface,
        "metadata_props": sorted((interface.get("metadata_props") or {}).items()),
        "metrics": _flat_metrics(version.metrics),
        "training_params": _flat_metrics(version.training_params),
        "trained_on": trained_on,
        "transitions": ModelVersionTransition.objects.restrict(request.user)
        .filter(version=version)
        .order_by("occurred_at", "id"),
        "previous_exists": ModelVersion.objects.filter(model=model, number=number - 1).exists(),
        "next_exists": ModelVersion.objects.filter(model=model, number=number + 1).exists(),
        "trail": _audit_trail(
            request,
            model.team,
            [("registry.modelversion", version.pk)],
            ("registry.modelversion", version.pk),
        ),
    }
    return render(request, "registry/model_version_detail.html", context)


# --- Datasets -----------------------------------------------------------------------------------------------------


@login_required
@require_GET
def dataset_list(request: HttpRequest) -> HttpResponse:
    latest = DatasetVersion.objects.filter(dataset=OuterRef("pk")).order_by("-number")
    datasets = (
        Dataset.objects.restrict(request.user)
        .select_related("team", "owner")
        .annotate(
            version_count=Count("versions"),
            latest_number=Max("versions__number"),
            latest_created=Subquery(latest.values("created_at")[:1]),
            breaking_count=Count("versions", filter=Q(versions__breaking_change=True)),
        )
        .order_by("name", "team__slug", "pk")
    )
    filterset, rows, valid = _filterset(request, DatasetFilterSet, datasets)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "section": "datasets",
        "page": page,
        "form": filterset.form,
        "query": _query_without_page(request),
        "filtered": _filtered(request),
        "classifications": Classification.choices,
        "selected_classifications": request.GET.getlist("classification"),
        "teams": _visible_teams(request),
        "valid": valid,
    }
    return render(request, "registry/dataset_list.html", context, status=200 if valid else 400)


@dataclass(frozen=True)
class SchemaSummary:
    columns: int
    flagged: int
    counts: list[tuple[str, str, int]]


def _schema_rows(schema: Any) -> list[dict[str, Any]]:
    columns = schema.get("columns", []) if isinstance(schema, dict) else []
    rows = []
    for column in columns:
        if not isinstance(column, dict):
            continue
        flags = [(key, label, hint) for key, label, hint in PRIVACY_FLAGS if column.get(key)]
        rows.append({**column, "flags": flags})
    return rows


def _schema_summary(rows: list[dict[str, Any]]) -> SchemaSummary:
    counts = [(key, label, sum(1 for row in rows if row.get(key))) for key, label, _ in PRIVACY_FLAGS]
    return SchemaSummary(columns=len(rows), flagged=sum(1 for row in rows if row["flags"]), counts=counts)


def _evolution(version: DatasetVersion) -> dict[str, Any]:
    evolution = version.evolution if isinstance(version.evolution, dict) else {}
    changes = []
    for change in evolution.get("changes", []):
        if isinstance(change, dict):
            changes.append({**change, "kind_label": CHANGE_KIND_LABELS.get(change.get("kind", ""), change.get("kind"))})
    return {
        "changes": changes,
        "breaking": sum(1 for change in changes if not change.get("compatible")),
        "compatible": sum(1 for change in changes if change.get("compatible")),
        "needs_review": sum(1 for change in changes if change.get("needs_review")),
    }


def _visible_dataset(request: HttpRequest, pk: int) -> Dataset:
    return get_object_or_404(
        Dataset.objects.restrict(request.user).select_related("team", "owner", "created_by"), pk=pk
    )


@login_required
@require_GET
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _visible_dataset(request, pk)
    versions = (
        DatasetVersion.objects.restrict(request.user)
        .filter(dataset=dataset)
        .select_related("created_by")
        .order_by("-number")
    )
    page = Paginator(versions, VERSION_PAGE_SIZE).get_page(request.GET.get("page"))
    version_rows = []
    for version in page.object_list:
        schema_rows = _schema_rows(version.schema)
        version_rows.append(
            {"version": version, "summary": _schema_summary(schema_rows), "evolution": _evolution(version)}
        )
    latest = versions.first()
    latest_rows = _schema_rows(latest.schema) if latest else []
    context = {
        "section": "datasets",
        "dataset": dataset,
        "page": page,
        "query": _query_without_page(request),
        "version_rows": version_rows,
        "latest": latest,
        "schema_rows": latest_rows,
        "summary": _schema_summary(latest_rows),
        "evolution": _evolution(latest) if latest else None,
        "trail": _audit_trail(
            request,
            dataset.team,
            [
                ("registry.dataset", dataset.pk),
                ("registry.datasetversion", _as_text(DatasetVersion.objects.filter(dataset=dataset))),
            ],
            ("registry.dataset", dataset.pk),
        ),
    }
    return render(request, "registry/dataset_detail.html", context)


@login_required
@require_GET
def dataset_version_detail(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    dataset = _visible_dataset(request, pk)
    version = get_object_or_404(
        DatasetVersion.objects.restrict(request.user).select_related("created_by"), dataset=dataset, number=number
    )
    rows = _schema_rows(version.schema)
    used_by = (
        ModelVersion.objects.restrict(request.user)
        .filter(dataset_versions=version)
        .select_related("model")
        .order_by("model__name", "-number")
    )
    context = {
        "section": "datasets",
        "dataset": dataset,
        "version": version,
        "schema_rows": rows,
        "summary": _schema_summary(rows),
        "evolution": _evolution(version),
        "used_by": used_by,
        "previous_exists": DatasetVersion.objects.filter(dataset=dataset, number=number - 1).exists(),
        "next_exists": DatasetVersion.objects.filter(dataset=dataset, number=number + 1).exists(),
        "trail": _audit_trail(
            request,
            dataset.team,
            [("registry.datasetversion", version.pk)],
            ("registry.datasetversion", version.pk),
        ),
    }
    return render(request, "registry/dataset_version_detail.html", context)


# --- Use cases ----------------------------------------------------------------------------------------------------


@login_required
@require_GET
def use_case_list(request: HttpRequest) -> HttpResponse:
    use_cases = (
        UseCase.objects.restrict(request.user)
        .select_related("team", "owner")
        .annotate(model_count=Count("registered_models", distinct=True))
        .order_by("name", "team__slug", "pk")
    )
    filterset, rows, valid = _filterset(request, UseCaseFilterSet, use_cases)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "section": "use_cases",
        "page": page,
        "form": filterset.form,
        "query": _query_without_page(request),
        "filtered": _filtered(request),
        "risk_tiers": RiskTier.choices,
        "selected_tiers": request.GET.getlist("risk_tier"),
        "teams": _visible_teams(request),
        "valid": valid,
    }
    return render(request, "registry/use_case_list.html", context, status=200 if valid else 400)


@dataclass
class KpiSeries:
    """One KPI of a use case with its observations, oldest first, and a small chart of them."""

    name: str
    unit: str
    baseline: float
    target: float
    description: str
    observations: list[KpiObservation]
    chart: dict[str, Any] | None

    @property
    def baseline_text(self) -> Any:
        return _number(float(self.baseline))

    @property
    def target_text(self) -> Any:
        return _number(float(self.target))

    @property
    def rows(self) -> list[tuple[KpiObservation, Any]]:
        """Newest first, each with its value as text."""
        return [(observation, _number(observation.value)) for observation in reversed(self.observations)]

    @property
    def latest(self) -> KpiObservation | None:
        return self.observations[-1] if self.observations else None

    @property
    def target_met(self) -> bool | None:
        """Whether the latest value reached the target, in the direction from baseline to target."""
        if self.latest is None or self.baseline == self.target:
            return None
        if self.target < self.baseline:
            return self.latest.value <= self.target
        return self.latest.value >= self.target


CHART_WIDTH = 320
CHART_HEIGHT = 90
CHART_PAD = 6


def _chart(observations: list[KpiObservation], baseline: float, target: float) -> dict[str, Any] | None:
    """Coordinates of an inline SVG line chart (no script, no style attribute: the page's CSP allows neither)."""
    if len(observations) < 2:
        return None
    values = [observation.value for observation in observations]
    low, high = min([*values, baseline, target]), max([*values, baseline, target])
    span = (high - low) or 1.0
    first, last = observations[0].observed_at.timestamp(), observations[-1].observed_at.timestamp()
    duration = (last - first) or 1.0
    inner_w, inner_h = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD

    def y(value: float) -> float:
        return round(CHART_PAD + inner_h * (1 - (value - low) / span), 1)

    points = [
        (round(CHART_PAD + inner_w * (o.observed_at.timestamp() - first) / duration, 1), y(o.value))
        for o in observations
    ]
    if not all(math.isfinite(coordinate) for point in points for coordinate in point):
        return None
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "points": " ".join(f"{x},{y_}" for x, y_ in points),
        "last": points[-1],
        "baseline_y": y(baseline),
        "target_y": y(target),
        "x0": CHART_PAD,
        "x1": CHART_WIDTH - CHART_PAD,
    }


@login_required
@require_GET
def use_case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    use_case = get_object_or_404(
        UseCase.objects.restrict(request.user).select_related("team", "owner", "created_by"), pk=pk
    )
    observations: dict[str, list[KpiObservation]] = {}
    for observation in (
        KpiObservation.objects.restrict(request.user)
        .filter(use_case=use_case)
        .select_related("recorded_by")
        .order_by("kpi", "observed_at", "id")
    ):
        observations.setdefault(observation.kpi, []).append(observation)
    kpis = []
    for kpi in use_case.kpis if isinstance(use_case.kpis, list) else []:
        series = observations.get(kpi["name"], [])
        kpis.append(
            KpiSeries(
                name=kpi["name"],
                unit=kpi.get("unit", ""),
                baseline=kpi["baseline"],
                target=kpi["target"],
                description=kpi.get("description", ""),
                observations=series,
                chart=_chart(series, kpi["baseline"], kpi["target"]),
            )
        )
    models = (
        RegisteredModel.objects.restrict(request.user)
        .filter(use_case=use_case)
        .select_related("owner")
        .annotate(latest_number=Max("versions__number"))
        .prefetch_related(
            Prefetch(
                "versions",
                queryset=ModelVersion.objects.filter(status=VersionStatus.DEPLOYED).only("id", "model_id", "number"),
                to_attr="deployed_versions",
            )
        )
        .order_by("name")
    )
    context = {
        "section": "use_cases",
        "use_case": use_case,
        "kpis": kpis,
        "models": models,
        "trail": _audit_trail(
            request,
            use_case.team,
            [
                ("registry.usecase", use_case.pk),
                ("registry.kpiobservation", _as_text(KpiObservation.objects.filter(use_case=use_case))),
            ],
            ("registry.usecase", use_case.pk),
        ),
    }
    return render(request, "registry/use_case_detail.html", context)
