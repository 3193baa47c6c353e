"""The web form that records a data-subject request (the rules are the action's; the form only collects)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from compliance.models import SubjectRequestKind
from compliance.models.subjects import MAX_IDENTIFIER_LENGTH


class SubjectRequestForm(forms.Form):
    team: Any = forms.ModelChoiceField(
        queryset=None, to_field_name="slug", help_text="Whose records the request covers."
    )
    kind = forms.ChoiceField(choices=SubjectRequestKind.choices)
    subject_identifier = forms.CharField(
        max_length=MAX_IDENTIFIER_LENGTH,
        strip=False,
        help_text="As the subject gave it: matched exactly against the columns flagged as subject identifiers.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    asked_by = forms.CharField(max_length=200, help_text="The data subject, or who acts for them, and how they asked.")

    def __init__(self, *args: Any, teams: QuerySet[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["team"]
        field.queryset = teams
        if teams.count() == 1:
            field.initial = teams.first()


class CloseForm(forms.Form):
    reason = forms.CharField(max_length=2000, help_text="Answered, withdrawn, manifestly unfounded...")
