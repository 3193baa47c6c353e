"""The audits' web pages: a report as a compliance officer or board member reads it (figures as tables; charts are
to come, docs/audits.md). Restricted in SQL like the API: another team's report is a 404."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from audits.models import AuditReport
from audits.pipelines.fairness import GROUP_METRICS, NAMED_METRICS
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
    }
    return render(request, "audits/report_detail.html", context)
