"""The audits' panels on the registry's pages (registry.panels: the registry cannot import audits, so audits registers
them when the app is ready). The model version page: the version's reports, which of them count for the release gate
now (audits.selection.current_reports), the form that starts an audit (audits.views.start_audit) and the form that
shows the statement of reasons for one decision (audits.views.statement). The model page: its reason catalogue in
force, every feature with its sentences or none, and the catalogue's versions."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from audits.forms import audit_form, statement_form
from audits.local_explanations import NotExplainable, explainable_inputs, feature_types
from audits.models import AuditReport, ReasonCatalogue
from audits.reasons import catalogue_rows
from audits.selection import current_reports
from registry import panels
from registry.models import ModelVersion, RegisteredModel
from registry.views.shared import may_start_jobs

ROWS = 20


def model_version_panel(request: HttpRequest, version: ModelVersion) -> SafeString:
    """The model version page's audits: its reports (which count for the gate now) and the form that starts one."""
    reports = (
        AuditReport.objects.restrict(request.user)
        .filter(model_version=version)
        .select_related("dataset_version__dataset")
        .order_by("-created_at", "-pk")
    )
    counting = {report.pk for report in current_reports(version)}
    team = version.model.team
    try:
        explained: Any = statement_form(list(feature_types(explainable_inputs(version))))
    except NotExplainable as problem:
        explained = problem.message
    context = {
        "version": version,
        "reports": [(report, report.pk in counting) for report in reports[:ROWS]],
        "report_count": reports.count(),
        "form": audit_form(request, version) if may_start_jobs(request.user, team) else None,
        "statement_form": explained if not isinstance(explained, str) else None,
        "statement_problem": explained if isinstance(explained, str) else "",
    }
    return mark_safe(render_to_string("audits/_model_version_panel.html", context, request=request))  # noqa: S308 (rendered by the template engine, every value escaped)


def model_panel(request: HttpRequest, model: RegisteredModel) -> SafeString:
    """The model page's reason catalogue: the version in force (who set it, when), every feature of the model with
    its sentence for each direction or "no reason text", the features never given as a reason, and the versions."""
    versions = list(
        ReasonCatalogue.objects.restrict(request.user)
        .filter(model=model)
        .select_related("created_by")
        .order_by("-number")[:ROWS]
    )
    catalogue = versions[0] if versions else None
    context = {
        "model": model,
        "catalogue": catalogue,
        "rows": catalogue_rows(model, catalogue),
        "versions": versions,
        "may_edit": may_start_jobs(request.user, model.team),
    }
    return mark_safe(render_to_string("audits/_reasons_panel.html", context, request=request))  # noqa: S308 (rendered by the template engine, every value escaped)


panels.register_panel("model_version", model_version_panel)
panels.register_panel("model", model_panel)
