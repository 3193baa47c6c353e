"""Forms of the compliance pages. They validate input and hand it to compliance.actions; they never save models."""

from __future__ import annotations

from typing import Any

from django import forms

from compliance.choices import CountedFrom, HoldScope, OnExpiry
from compliance.models.retention import MAX_KEEP_DAYS
from compliance.retention import targets
from registry.choices import Classification


class RetentionPolicyForm(forms.Form):
    team = forms.ChoiceField(choices=())
    target_kind = forms.ChoiceField(label="Records", choices=())
    classification = forms.ChoiceField(choices=Classification.choices)
    keep_days = forms.IntegerField(
        label="Keep for (days)", help_text=f"Between 1 and {MAX_KEEP_DAYS} days (a hundred years)."
    )
    counted_from = forms.ChoiceField(choices=CountedFrom.choices)
    on_expiry = forms.ChoiceField(label="Then", choices=OnExpiry.choices, initial=OnExpiry.DELETE)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, teams: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = teams  # type: ignore[attr-defined]
        self.fields["target_kind"].choices = [(kind, t.label) for kind, t in targets().items()]  # type: ignore[attr-defined]


class PolicyChangeForm(forms.Form):
    keep_days = forms.IntegerField(label="Keep for (days)", help_text=f"Between 1 and {MAX_KEEP_DAYS} days.")
    counted_from = forms.ChoiceField(choices=CountedFrom.choices)
    on_expiry = forms.ChoiceField(label="Then", choices=OnExpiry.choices)
    active = forms.BooleanField(required=False, help_text="Unticked, nothing expires under this policy.")
    note = forms.CharField(label="Why it changes", widget=forms.Textarea(attrs={"rows": 2}))


class HoldForm(forms.Form):
    team = forms.ChoiceField(choices=())
    scope = forms.ChoiceField(choices=HoldScope.choices)
    dataset = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, choices=())
    model = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, choices=())
    use_case = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, choices=())
    subject_identifier = forms.CharField(required=False, max_length=256, label="Data subject identifier")
    case_reference = forms.CharField(max_length=128)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, choices: dict[str, list[tuple[Any, str]]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, options in choices.items():
            self.fields[name].choices = options  # type: ignore[attr-defined]


class HoldStepForm(forms.Form):
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class DeletionForm(forms.Form):
    reason = forms.CharField(label="Why the bytes go", widget=forms.Textarea(attrs={"rows": 2}))


class RunForm(forms.Form):
    team = forms.ChoiceField(choices=())
    dry_run = forms.BooleanField(required=False)

    def __init__(self, *args: Any, teams: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = teams  # type: ignore[attr-defined]
