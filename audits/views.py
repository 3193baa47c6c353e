"""The audits' web pages: a report as a compliance officer or board member reads it, with its charts (audits.charts,
drawn in the browser by Vega-Lite) and every charted figure also in a table; restricted in SQL like the API: another
team's report is a 404. docs/audits.md, "Reading a report".

Also the statement of reasons for one decision (audits.statements), from the form on the model version page, and
the model version page's audits panel (registered in registry.panels, so the registry does not import audits)
and the form on it that starts an audit through the same action as the API, the form on which a compliance
officer justifies a proxy a report flagged, and the form on which a model's engineers edit its reason catalogue.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from audits import charts, charts_explain
from audits.actions import do_justify_proxy, do_request_audit, do_set_reason_catalogue
from audits.choices import AuditKind
from audits.forms import AuditRequestForm, ProxyJustificationForm, ReasonCatalogueForm, audit_form, statement_form
from audits.local_explanations import NotExplainable, explainable_inputs, feature_types
from audits.models import AuditReport
from audits.pipelines.fairness import GROUP_METRICS, NAMED_METRICS
from audits.reasons import catalogue_rows, current_catalogue
from audits.statements import STATEMENT_STYLESHEET, statement_context, statement_filename
from core.actors import acting_user, is_compliance_officer
from core.pdf import render_pdf
from core.refusals import Busy
from core.ui import apply_validation_error
from registry.models import ModelVersion, RegisteredModel
from registry.presentation import number_text
from registry.views.shared import may_start_jobs, start_job

GROUP_HEADINGS = ["Selection rate", "TPR", "FPR", "Precision", "Accuracy", "AUC"]
NAMED_HEADINGS = ["Disparate impact", "Statistical parity diff.", "Equal opportunity diff.", "Average odds diff."]
VALIDATION_METRICS = ("size", "positive_rate", "auc", "precision", "recall", "accuracy", "brier", "ece")
VALIDATION_HEADINGS = ["Rows", "Positive rate", "AUC", "Precision", "Recall", "Accuracy", "Brier", "ECE"]
# Which thresholds a check is judged against, where its name does not say it (<check>_min / <check>_max).
CHECK_THRESHOLDS = {
    "disparate_impact": ("disparate_impact_min",),
    "statistical_parity_difference": ("statistical_parity_max",),
    "equal_opportunity_difference": ("equal_opportunity_max",),
    "average_odds_difference": ("average_odds_max",),
    "proxies": ("association_max", "nmi_max", "auc_max"),
    "calibration": ("ece_max",),
    "segments": ("segment_auc_min",),
    "monotonic": ("monotonic_violation_max",),
    "additivity": ("additivity_error_max",),
}
DEPENDENCE_FIGURES = ("low", "high", "count", "mean_shap")
OUTPUT_SPACES = {"log_odds": "log-odds (the model's margin before its logistic)", "probability": "probability"}


def _text(value: Any) -> Any:
    return number_text(value) if value is not None else None


def _figure(entry: Any) -> dict[str, Any]:
    entry = entry if isinstance(entry, dict) else {}
    interval = entry.get("interval") or [None, None]
    return {
        "value": _text(entry.get("value")),
        "low": _text(interval[0]),
        "high": _text(interval[1]),
        "verdict": charts.verdict_word(entry.get("verdict")) if entry.get("verdict") else None,
    }


def _groupings(results: dict[str, Any]) -> list[dict[str, Any]]:
    shown = []
    for grouping in results.get("groupings", []):
        shown.append(
            {
                "attributes": " and ".join(grouping.get("attributes", [])),
                "reference": charts.group_label(grouping.get("reference")) if grouping.get("reference") else None,
                "groups": [
                    {
                        "label": charts.group_label(group.get("group")),
                        "size": group.get("size"),
                        "status": group.get("status"),
                        "figures": [_figure(group.get("metrics", {}).get(name)) for name in GROUP_METRICS],
                    }
                    for group in grouping.get("groups", [])
                ],
                "comparisons": [
                    {
                        "label": charts.group_label(comparison.get("group")),
                        "figures": [_figure(comparison.get("metrics", {}).get(name)) for name in NAMED_METRICS],
                    }
                    for comparison in grouping.get("comparisons", [])
                ],
                "insufficient": [charts.group_label(group) for group in grouping.get("insufficient_groups") or []],
            }
        )
    return shown


def _check_rows(report: AuditReport) -> list[dict[str, Any]]:
    thresholds = report.thresholds if isinstance(report.thresholds, dict) else {}
    rows = []
    for name, verdict in sorted((report.checks or {}).items()):
        keys = CHECK_THRESHOLDS.get(name) or tuple(k for k in (f"{name}_min", f"{name}_max") if k in thresholds)
        bounds = [
            f"{'≥' if key.endswith('_min') else '≤'} {thresholds[key]} ({key})" for key in keys if key in thresholds
        ]
        rows.append({"name": name, "verdict": charts.verdict_word(verdict), "bounds": bounds})
    return rows


def _metric_cells(metrics: Any) -> list[Any]:
    metrics = metrics if isinstance(metrics, dict) else {}
    return [_text(metrics.get(name)) for name in VALIDATION_METRICS]


def _proxy_context(results: dict[str, Any]) -> dict[str, Any]:
    pairs = []
    for pair in results.get("pairs") or []:
        pairs.append(
            {
                **pair,
                "association_text": _text(pair.get("association")),
                "nmi_text": _text(pair.get("nmi")),
                "auc_text": _text(pair.get("auc")),
            }
        )
    pairs.sort(key=lambda pair: (not pair.get("flagged"), str(pair.get("feature")), str(pair.get("attribute"))))
    return {"pairs": pairs, "flagged_count": len(results.get("flagged") or [])}


def _validation_context(results: dict[str, Any], thresholds: dict[str, Any]) -> dict[str, Any]:
    segments = results.get("segments") or None
    minimum = thresholds.get("segment_auc_min")
    segment_rows = []
    for group in (segments or {}).get("groups") or []:
        metrics = group.get("metrics") or {}
        verdict = charts.verdict_word(None)
        if group.get("status") != "insufficient_data" and isinstance(metrics.get("auc"), int | float):
            verdict = "measured" if minimum is None else ("pass" if metrics["auc"] >= minimum else "fail")
        segment_rows.append(
            {"segment": group.get("segment"), "size": group.get("size"), "verdict": verdict}
            | {"cells": _metric_cells({**metrics, "size": group.get("size")})}
        )
    cost = results.get("cost") or None
    holdout = results.get("holdout") or None
    edge_cases = results.get("edge_cases") or {}
    return {
        "overall": _metric_cells(results.get("overall")),
        "segments": segments,
        "segment_rows": segment_rows,
        "segment_auc_min": minimum,
        "calibration": [
            {key: _text(entry.get(key)) for key in ("bin_low", "bin_high", "count", "mean_score", "observed_rate")}
            for entry in results.get("calibration") or []
        ],
        "cost": cost,
        "cost_curve": [
            {"threshold": _text(point.get("threshold")), "expected_cost": _text(point.get("expected_cost"))}
            for point in (cost or {}).get("curve") or []
        ],
        "holdout": holdout,
        "holdout_cells": _metric_cells({**((holdout or {}).get("metrics") or {}), "size": (holdout or {}).get("rows")}),
        "edge_cases": edge_cases.get("cases") or [],
        "edge_passed": edge_cases.get("passed"),
        "edge_failed": edge_cases.get("failed"),
        "edge_statistics_from": edge_cases.get("statistics_from"),
        "look_ahead": (holdout or {}).get("look_ahead"),
        "monotonic": [
            {**constraint, "worst_text": _text(constraint.get("worst_violation"))}
            for constraint in results.get("monotonic") or []
        ],
    }


def _explanation_context(results: dict[str, Any], thresholds: dict[str, Any]) -> dict[str, Any]:
    explainer = results.get("explainer") or {}
    background = results.get("background") or {}
    features = results.get("features") or []
    order = [str(f.get("feature")) for f in features]
    share = charts_explain.shares({str(f.get("feature")): f.get("mean_abs_shap") for f in features}, order)
    limit = thresholds.get("importance_shift_max")
    groups = []
    for attribute, entries in (results.get("importance_shift") or {}).items():
        profiles = {
            str(g.get("group")): g.get("mean_abs_shap") or {}
            for g in (results.get("by_group") or {}).get(attribute, [])
        }
        for entry in entries:
            distance = entry.get("distance")
            profile = profiles.get(str(entry.get("group")), {})
            leading = max(order, key=lambda name: profile.get(name) or 0.0) if profile and order else None
            verdict = charts.verdict_word(None)
            if distance is not None:
                verdict = "measured" if limit is None else ("pass" if distance <= limit else "fail")
            groups.append(
                {
                    "attribute": attribute,
                    "group": entry.get("group"),
                    "size": entry.get("size"),
                    "distance": _text(distance),
                    "verdict": verdict,
                    "leading": leading,
                }
            )
    return {
        "explainer": {
            "method": explainer.get("method"),
            "output_space": OUTPUT_SPACES.get(str(explainer.get("output_space")), explainer.get("output_space")),
            "parameters": sorted((explainer.get("parameters") or {}).items()),
        },
        "background": {key: background.get(key) for key in ("rows", "seed", "dataset_version", "features")},
        "base_value": _text(results.get("base_value")),
        "additivity": _text(results.get("additivity")),
        "importance": [
            {
                "feature": f.get("feature"),
                "mean_abs_shap": _text(f.get("mean_abs_shap")),
                "share": charts_explain.percent(share.get(str(f.get("feature")))),
                "quantiles": [_text(q) for q in f.get("shap_quantiles") or []],
            }
            for f in features
        ],
        "dependence": [
            {
                "feature": entry.get("feature"),
                "bins": [
                    {key: _text(b.get(key)) for key in ("low", "high", "count", "mean_shap")}
                    for b in entry.get("bins") or []
                ],
            }
            for entry in results.get("dependence") or []
        ],
        "group_shifts": groups,
        "importance_shift_max": limit,
    }


@login_required
@require_GET
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(
        AuditReport.objects.restrict(request.user).select_related(
            "model_version__model", "dataset_version__dataset", "job", "created_by"
        ),
        pk=pk,
    )
    results = report.results if isinstance(report.results, dict) else {}
    thresholds = report.thresholds if isinstance(report.thresholds, dict) else {}
    context: dict[str, Any] = {
        "section": "models",
        "report": report,
        "checks": _check_rows(report),
        "parameters": [
            (name, ", ".join(map(str, value)) if isinstance(value, list) else value)
            for name, value in sorted((report.parameters or {}).items())
            if name != "dataset_version"
        ],
        "thresholds": sorted(thresholds.items()),
        "rows": results.get("rows"),
        **justify_context(request, report),
    }
    if report.kind == AuditKind.FAIRNESS:
        drawn = {chart["id"]: chart for chart in charts.fairness_charts(results, thresholds)}
        groupings = _groupings(results)
        for index, grouping in enumerate(groupings, start=1):
            grouping["group_chart"] = drawn.get(f"chart-groups-{index}")
            grouping["named_chart"] = drawn.get(f"chart-named-{index}")
        context.update(
            groupings=groupings,
            group_headings=GROUP_HEADINGS,
            named_headings=NAMED_HEADINGS,
            charts=list(drawn.values()),
        )
    elif report.kind == AuditKind.PROXY:
        context.update(_proxy_context(results), charts=charts.proxy_charts(results))
    elif report.kind == AuditKind.VALIDATION:
        context.update(
            _validation_context(results, thresholds),
            validation_headings=VALIDATION_HEADINGS,
            charts=charts.validation_charts(results, thresholds),
        )
    elif report.kind == AuditKind.EXPLANATION:
        context.update(_explanation_context(results, thresholds), charts=charts_explain.explanation_charts(results))
    return render(request, "audits/report_detail.html", context)


def _visible_version(request: HttpRequest, pk: int, number: int) -> ModelVersion:
    return get_object_or_404(
        ModelVersion.objects.restrict(request.user).select_related("model__team"), model_id=pk, number=number
    )


def _render_start(
    request: HttpRequest, version: ModelVersion, form: AuditRequestForm | None, status: int = 200
) -> HttpResponse:
    context = {"section": "models", "version": version, "form": form}
    return render(request, "audits/start.html", context, status=status)


def justify_context(
    request: HttpRequest, report: AuditReport, form: ProxyJustificationForm | None = None
) -> dict[str, Any]:
    """What templates/audits/_proxy_justify.html reads: the justifications recorded, and the form when the user is
    a compliance officer of the model's team and the report flagged something (a proxy report only)."""
    if report.kind != AuditKind.PROXY:
        return {"justifications": [], "justify_form": None}
    officer = is_compliance_officer(acting_user(request.user), report.model_version.model.team_id)
    flagged = bool((report.results or {}).get("flagged"))
    return {
        "justifications": list(report.justifications.select_related("justified_by")),
        "justify_form": form or (ProxyJustificationForm(report=report) if officer and flagged else None),
    }


@login_required
@require_http_methods(["GET", "POST"])
def start_audit(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """The form alone (GET), and its submission (POST, from here or the model version page): the job's page, or the
    form again with the refusal on the field it names."""
    version = _visible_version(request, pk, number)
    if not may_start_jobs(request.user, version.model.team):
        raise PermissionDenied(f"Only engineers and admins of team {version.model.team.slug} start its audits.")
    if request.method != "POST":
        return _render_start(request, version, audit_form(request, version))
    form = audit_form(request, version, request.POST)
    response, status = start_job(
        request,
        form,
        "audits",
        lambda **arguments: do_request_audit(version, actor=acting_user(request.user), **arguments),
        f"Audit of {version} requested: it runs on the Spark worker.",
    )
    return response or _render_start(request, version, form, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def justify_proxy(request: HttpRequest, pk: int) -> HttpResponseBase:
    """A compliance officer's justification of a pair the proxy report flagged (audits.actions.do_justify_proxy):
    on success back to the report; a refusal shown on the field it names (400), or a 403 for anyone else."""
    report = get_object_or_404(
        AuditReport.objects.restrict(request.user).select_related("model_version__model__team", "dataset_version"),
        pk=pk,
    )
    if report.kind != AuditKind.PROXY:
        return HttpResponse("Only a proxy detection report has proxies to justify.", status=404)
    if not is_compliance_officer(acting_user(request.user), report.model_version.model.team_id):
        raise PermissionDenied("Only compliance officers of the model's team may justify a proxy.")
    form = ProxyJustificationForm(request.POST or None, report=report)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                do_justify_proxy(
                    report,
                    feature=data["feature"],
                    attribute=data["attribute"],
                    reason=data["reason"],
                    actor=acting_user(request.user),
                )
            except ValidationError as error:
                apply_validation_error(form, error)
            else:
                messages.success(request, f"Justified {data['feature']} as a proxy of {data['attribute']}.")
                return redirect("audits-report-detail", pk=report.pk)
        status = 400
    context = {"section": "models", "report": report, **justify_context(request, report, form)}
    return render(request, "audits/proxy_justify.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def edit_reasons(request: HttpRequest, pk: int) -> HttpResponseBase:
    """A model's reason catalogue as a form (engineers and admins of its team): saved as a new version through
    audits.actions.do_set_reason_catalogue, as the API's PUT; a refusal is shown on the box it names (400)."""
    model = get_object_or_404(RegisteredModel.objects.restrict(request.user).select_related("team"), pk=pk)
    if not may_start_jobs(request.user, model.team):
        raise PermissionDenied(f"Only engineers and admins of team {model.team.slug} edit its reason catalogue.")
    catalogue = current_catalogue(model)
    form = ReasonCatalogueForm(request.POST or None, rows=catalogue_rows(model, catalogue), catalogue=catalogue)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            entries, field_map = form.entries()
            try:
                saved, created = do_set_reason_catalogue(
                    model,
                    actor=acting_user(request.user),
                    entries=entries,
                    threshold=data["threshold"],
                    positive_decision=data["positive_decision"],
                    negative_decision=data["negative_decision"],
                    note=data["note"],
                )
            except ValidationError as error:
                apply_validation_error(form, error, field_map)
            else:
                said = f"Reason catalogue v{saved.number} saved." if created else "Nothing changed: no new version."
                messages.success(request, said)
                return redirect(f"{reverse('registry-model-detail', args=[model.pk])}#reasons")
        status = 400
    context = {"section": "models", "model": model, "catalogue": catalogue, "form": form}
    return render(request, "audits/reasons_edit.html", context, status=status)


def statement(request: HttpRequest, pk: int, number: int) -> HttpResponseBase:
    """The statement of reasons for one row's decision, from the model version page's form (the same checks as the
    API's statement endpoint); "Download PDF" posts the same row again with format=pdf."""
    version = get_object_or_404(
        ModelVersion.objects.restrict(request.user).select_related("model__team"), model_id=pk, number=number
    )
    context: dict[str, Any] = {"version": version}
    try:
        features = list(feature_types(explainable_inputs(version)))
    except NotExplainable as problem:
        context["problem"] = problem.message
        return render(request, "audits/statement_page.html", context, status=409)
    form = statement_form(features, request.POST if request.method == "POST" else None)
    context["form"] = form
    if request.method == "POST" and form.is_valid():
        row = {name: form.cleaned_data[name] for name in features}
        try:
            shown = statement_context(version, row, form.cleaned_data["reference"])
        except NotExplainable as problem:
            form.add_error(None, problem.message)
        except Busy as busy:
            form.add_error(None, busy.message)
        except ValidationError as error:
            for where, messages_ in error.message_dict.items():
                name = where.rpartition(".")[2]
                form.add_error(name if name in features else None, "; ".join(messages_))
        else:
            if request.POST.get("format") == "pdf":
                html = render_to_string("audits/statement.html", shown, request=request)
                response = HttpResponse(render_pdf(html, STATEMENT_STYLESHEET), content_type="application/pdf")
                response["Content-Disposition"] = f'attachment; filename="{statement_filename(shown)}"'
                return response
            context["statement"] = shown
    return render(request, "audits/statement_page.html", context)
