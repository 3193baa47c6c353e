"""The audits' web forms. The form on the model version page that starts an audit (audits.views.start_audit) checks
only the shape of the input and hands it to ``audits.actions.do_request_audit``, the API's action, so every rule
about datasets, columns and thresholds is the action's and a refusal lands on the field it names
(registry.forms.JobRequestForm). A compliance officer's justification of a flagged proxy: audits.actions.
do_justify_proxy checks everything; the form only offers the report's flagged pairs. A model's reason catalogue:
audits.actions.do_set_reason_catalogue checks everything; the form offers a box per feature and direction.
"""

from __future__ import annotations

from typing import Any

from django import forms

from audits.choices import AuditKind
from audits.kinds import registered
from audits.models import AuditReport, ReasonCatalogue
from audits.reasons import MAX_DECISION, MAX_NOTE
from registry.forms import JobRequestForm
from registry.models import DatasetVersion, ModelVersion

CHOICE_LIMIT = 200


class AuditRequestForm(JobRequestForm):
    kind = forms.ChoiceField(label="Kind of audit")
    dataset_version = forms.TypedChoiceField(
        coerce=int, label="Evaluation dataset version", help_text="A dataset version of the model's team."
    )
    label = forms.CharField(
        required=False, max_length=255, label="Label column", help_text="A boolean or 0/1 column: the outcome."
    )
    threshold = forms.FloatField(
        required=False, label="Score threshold", help_text="Scores at or above it are positive. Blank: 0.5."
    )
    segment_column = forms.CharField(
        required=False, max_length=255, label="Segment column", help_text="Figures per value of it, e.g. region."
    )
    protected_attributes = forms.CharField(
        required=False,
        max_length=2000,
        label="Protected attributes",
        help_text="Column names, comma-separated. Blank: the columns the dataset's schema flags as protected.",
    )

    time_column = forms.CharField(
        required=False,
        max_length=255,
        label="Time column (validation)",
        help_text="A date or timestamp column: its latest 20% of rows are evaluated as a holdout.",
    )
    monotonic = forms.CharField(
        required=False,
        max_length=2000,
        label="Monotonic constraints (validation)",
        help_text="Inputs and the direction the score must follow, e.g. income:increasing, debt:decreasing.",
    )

    def __init__(self, *args: Any, dataset_versions: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set_choices("kind", [(AuditKind(spec.kind).value, AuditKind(spec.kind).label) for spec in registered()])
        self._set_choices(
            "dataset_version", [("", "Choose a dataset version")] + [(str(pk), t) for pk, t in dataset_versions]
        )

    def action_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        params: dict[str, Any] = {}
        for name in ("label", "segment_column"):
            if data.get(name):
                params[name] = data[name].strip()
        if data.get("threshold") is not None:
            params["threshold"] = data["threshold"]
        if data.get("time_column"):
            params["time_column"] = data["time_column"].strip()
        if data.get("monotonic"):
            params["monotonic"] = monotonic_constraints(data["monotonic"])
        attributes = [name.strip() for name in (data.get("protected_attributes") or "").split(",") if name.strip()]
        if attributes:
            params["protected_attributes"] = attributes
        return {
            "kind": data["kind"],
            "dataset_version": data["dataset_version"],
            "params": params,
            "idempotency_key": data["idempotency_key"],
        }


def monotonic_constraints(text: str) -> dict[str, str] | str:
    """``income:increasing, debt:decreasing`` as the action takes it; text of another shape is handed on as it is,
    for the action to refuse on the field."""
    constraints: dict[str, str] = {}
    for part in (piece.strip() for piece in text.split(",")):
        feature, colon, direction = part.partition(":")
        if not part:
            continue
        if not colon or not feature.strip():
            return text
        constraints[feature.strip()] = direction.strip()
    return constraints


def audit_form(request: Any, version: ModelVersion, data: Any = None) -> AuditRequestForm:
    """The form with the dataset versions this user may choose: the model's team's, newest first."""
    versions = (
        DatasetVersion.objects.restrict(request.user)
        .filter(dataset__team=version.model.team)
        .select_related("dataset")
        .order_by("-created_at", "-pk")[:CHOICE_LIMIT]
    )
    choices = []
    for dataset_version in versions:
        rows = f" · {dataset_version.row_count:,} rows" if dataset_version.row_count is not None else ""
        choices.append((dataset_version.pk, f"{dataset_version.dataset.name} v{dataset_version.number}{rows}"))
    return AuditRequestForm(data, dataset_versions=choices)


class ProxyJustificationForm(forms.Form):
    feature = forms.ChoiceField(label="Feature (model input)")
    attribute = forms.ChoiceField(label="Protected or prohibited attribute")
    reason = forms.CharField(
        label="Why it is acceptable",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Recorded with your name and the time, in the audit log; it cannot be changed afterwards.",
    )

    def __init__(self, *args: Any, report: AuditReport, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        flagged = (report.results or {}).get("flagged", [])
        features = dict.fromkeys(str(pair.get("feature")) for pair in flagged)
        attributes = dict.fromkeys(str(pair.get("attribute")) for pair in flagged)
        self.fields["feature"].choices = [(name, name) for name in features]  # type: ignore[attr-defined]
        self.fields["attribute"].choices = [(name, name) for name in attributes]  # type: ignore[attr-defined]


class ReasonCatalogueForm(forms.Form):
    """A model's reason catalogue as one text box per feature and direction (a blank one: no reason text), and the
    threshold and decisions; audits.actions.do_set_reason_catalogue checks everything, and ``field_map`` puts its
    refusal of ``entries[3].text`` on the box that entry came from. A feature that may never be a reason has no box."""

    threshold = forms.FloatField(
        label="Threshold", help_text="The score from which the first decision applies (0 to 1)."
    )
    positive_decision = forms.CharField(
        max_length=MAX_DECISION, label="Decision at or above the threshold", help_text="For example: Declined."
    )
    negative_decision = forms.CharField(
        max_length=MAX_DECISION, label="Decision below the threshold", help_text="For example: Approved."
    )
    note = forms.CharField(
        required=False, max_length=MAX_NOTE, widget=forms.Textarea(attrs={"rows": 2}), label="What changed, and why"
    )

    def __init__(self, data: Any = None, *, rows: list[dict[str, Any]], catalogue: ReasonCatalogue | None) -> None:
        initial: dict[str, Any] = {}
        if catalogue is not None:
            initial = {
                "threshold": catalogue.threshold,
                "positive_decision": catalogue.positive_decision,
                "negative_decision": catalogue.negative_decision,
            }
        super().__init__(data, initial=initial)
        self.rows = []
        for index, row in enumerate(rows):
            boxes = []
            for direction, label, text in row["texts"]:
                name = f"text_{index}_{direction}"
                if row["never"] is None:
                    self.fields[name] = forms.CharField(
                        required=False, label=f"{row['feature']}: {label.lower()}", initial=text, strip=True
                    )
                    boxes.append((direction, self[name]))
            self.rows.append({**row, "boxes": boxes})

    def entries(self) -> tuple[list[dict[str, str]], dict[str, str]]:
        """The filled boxes as catalogue entries, and which box each entry's errors belong on."""
        entries: list[dict[str, str]] = []
        field_map: dict[str, str] = {}
        for row in self.rows:
            for direction, box in row["boxes"]:
                text = self.cleaned_data.get(box.name) or ""
                if text:
                    for part in ("feature", "direction", "text"):
                        field_map[f"entries[{len(entries)}].{part}"] = box.name
                    entries.append({"feature": row["feature"], "direction": direction, "text": text})
        return entries, field_map


def statement_form(features: list[str], data: Any = None) -> forms.Form:
    """The statement of reasons form: one number per model feature (empty is a missing value) and a reference."""
    fields: dict[str, forms.Field] = {
        name: forms.FloatField(required=False, label=name, help_text="Empty: a missing value.") for name in features
    }
    fields["reference"] = forms.CharField(
        max_length=200, required=False, label="Reference", help_text="Printed on the statement (an application number)."
    )
    form_class = type("StatementForm", (forms.Form,), fields)
    form: forms.Form = form_class(data, prefix="statement")
    return form
