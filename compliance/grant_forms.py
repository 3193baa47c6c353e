"""Forms of the data access grant pages (docs/grants.md): they validate input; the views call
compliance.actions.grants."""

from __future__ import annotations

from typing import Any

from django import forms


class GrantRequestForm(forms.Form):
    team = forms.ChoiceField(choices=(), label="Requesting team")
    dataset = forms.TypedChoiceField(coerce=int, choices=(), label="Dataset of another team")
    use_case = forms.TypedChoiceField(coerce=int, choices=(), label="For use case")
    purpose = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))
    expires_at = forms.DateTimeField(
        label="Expires at (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )

    def __init__(self, *args: Any, choices: dict[str, list[tuple[Any, str]]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, options in choices.items():
            self.fields[name].choices = options  # type: ignore[attr-defined]


class GrantStepForm(forms.Form):
    """One side's decision (``side`` for approve/refuse), or the reason of a revocation or withdrawal."""

    side = forms.CharField(required=False, widget=forms.HiddenInput)
    comment = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))
