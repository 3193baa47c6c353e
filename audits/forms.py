"""The audits' web forms: a compliance officer's justification of a flagged proxy (audits.actions.do_justify_proxy
checks everything; the form only offers the report's flagged pairs)."""

from __future__ import annotations

from typing import Any

from django import forms

from audits.models import AuditReport


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
