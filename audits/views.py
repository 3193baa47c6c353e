"""The audits' web pages: a report as a compliance officer or board member reads it (figures as tables; charts are
to come, docs/audits.md), and the form on which a compliance officer justifies a flagged proxy. Restricted in SQL
like the API: another team's report is a 404."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from audits.actions import do_justify_proxy
from audits.choices import AuditKind
from audits.forms import ProxyJustificationForm
from audits.models import AuditReport
from audits.pipelines.fairness import GROUP_METRICS, NAMED_METRICS
from core.actors import acting_user, is_compliance_officer
from core.ui import apply_validation_error
from registry.presentation import number_text

GROUP_HEADINGS = ["Selection rate", "TPR", "FPR", "Precision", "Accuracy", "AUC"]
NAMED_HEADINGS = ["Disparate impact", "Statistical parity diff.", "Equal opportunity diff.", "Average odds diff."]


def _figure(entry: Any) -> dict[str, Any]:
    entry = entry if isinstance(entry, dict) else {}
    interval = entry.get("interval") or [None, None]
    return {
        "value": number_text(entry.get("value")) if entry.get("value") is not None else None,
        "low": number_text(interval[0]) if interval[0] is not None else None,
        "high": number_text(interval[1]) if interval[1] is not None else None,
        "verdict": entry.get("verdict"),
    }


def _label(group: Any) -> str:
    return ", ".join(f"{key}={value}" for key, value in (group or {}).items())


def _groupings(results: dict[str, Any]) -> list[dict[str, Any]]:
    shown = []
    for grouping in results.get("groupings", []):
        shown.append(
            {
                "attributes": " and ".join(grouping.get("attributes", [])),
                "reference": _label(grouping.get("reference")) if grouping.get("reference") else None,
                "groups": [
                    {
                        "label": _label(group.get("group")),
                        "size": group.get("size"),
                        "status": group.get("status"),
                        "figures": [_figure(group.get("metrics", {}).get(name)) for name in GROUP_METRICS],
                    }
                    for group in grouping.get("groups", [])
                ],
                "comparisons": [
                    {
                        "label": _label(comparison.get("group")),
                        "figures": [_figure(comparison.get("metrics", {}).get(name)) for name in NAMED_METRICS],
                    }
                    for comparison in grouping.get("comparisons", [])
                ],
            }
        )
    return shown


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
    context = {
        "section": "models",
        "report": report,
        "checks": sorted((report.checks or {}).items()),
        "groupings": _groupings(results),
        "group_headings": GROUP_HEADINGS,
        "named_headings": NAMED_HEADINGS,
        "rows": results.get("rows"),
        **justify_context(request, report),
    }
    return render(request, "audits/report_detail.html", context)


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
