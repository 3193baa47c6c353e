"""Forms of the DPIA pages. They validate input and hand it to compliance.actions.dpia; they never save models."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from compliance.dpia_rules import CRITERIA, TEXT_SECTIONS, Likelihood, Severity
from compliance.models import DpiaVersion
from registry.choices import LegalBasis
from registry.models import Dataset, RegisteredModel, UseCase

MAX_TEXT = 20_000
TEXT_HELP = {
    "processing_description": "What is processed, how, where the data comes from and how much of it.",
    "purposes": "Why: the purposes and, where relied on, the legitimate interest.",
    "data_subjects": "Whose data: applicants, customers, employees, children…",
    "recipients": "Who receives the data or the model's outputs, inside and outside the organisation.",
    "retention": "How long the data is kept and what happens at the end.",
    "necessity": "Why the processing is needed for the purpose; what less intrusive means were considered.",
    "proportionality": "Data minimisation, accuracy, information to the subjects, their rights.",
    "dpo_advice": "The data protection officer's advice, and whether it was followed (and if not, why).",
}


class DpiaCoverageMixin(forms.Form):
    datasets = forms.ModelMultipleChoiceField(
        queryset=Dataset.objects.none(),
        required=False,
        help_text="The datasets of the use case's team that the DPIA covers: their personal, special-category and "
        "protected columns and their residency fill the categories and transfers.",
    )
    model = forms.ModelChoiceField(
        queryset=RegisteredModel.objects.none(), required=False, help_text="The use case's model it assesses."
    )

    def limit_to(self, datasets: QuerySet[Dataset], models: QuerySet[RegisteredModel]) -> None:
        field: Any = self.fields["datasets"]
        field.queryset = datasets.order_by("name")
        model_field: Any = self.fields["model"]
        model_field.queryset = models.order_by("name")


class DpiaCreateForm(DpiaCoverageMixin):
    use_case = forms.ModelChoiceField(queryset=UseCase.objects.none(), help_text="One DPIA per use case.")

    def __init__(self, *args: Any, use_cases: QuerySet[UseCase], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["use_case"]
        field.queryset = use_cases
        self.order_fields(["use_case", "datasets", "model"])


class DpiaEditForm(DpiaCoverageMixin):
    processing_description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    purposes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    legal_basis = forms.ChoiceField(choices=[("", "—"), *LegalBasis.choices], required=False)
    data_subjects = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    recipients = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    retention = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    necessity = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    proportionality = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    dpo_advice = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    review_date = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="After this date the approval has expired and releases are refused until it is reviewed.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, section in TEXT_SECTIONS.items():
            field = self.fields[name]
            field.label = section
            field.help_text = TEXT_HELP[name]
            field.max_length = MAX_TEXT  # type: ignore[attr-defined]

    @classmethod
    def initial_of(cls, version: DpiaVersion) -> dict[str, Any]:
        initial: dict[str, Any] = {name: getattr(version, name) for name in TEXT_SECTIONS}
        initial.update(
            legal_basis=version.legal_basis,
            review_date=version.review_date,
            model=version.model_id,
            datasets=[item["id"] for item in version.datasets],
        )
        return initial


class RiskForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    likelihood = forms.ChoiceField(choices=[("", "—"), *Likelihood.choices], required=False)
    severity = forms.ChoiceField(choices=[("", "—"), *Severity.choices], required=False)
    mitigations = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    residual_likelihood = forms.ChoiceField(
        choices=[("", "—"), *Likelihood.choices], required=False, label="Residual likelihood"
    )
    residual_severity = forms.ChoiceField(
        choices=[("", "—"), *Severity.choices], required=False, label="Residual severity"
    )

    def risk(self) -> dict[str, Any] | None:
        """The risk as the action takes it, or None for a row left blank."""
        data = self.cleaned_data
        if not any(data.get(name) for name in self.fields):
            return None
        return {name: data.get(name, "") for name in self.fields}


RiskFormSet = forms.formset_factory(RiskForm, extra=2, max_num=50, absolute_max=50)


class ScreeningForm(forms.Form):
    """The nine criteria, each yes or no with a note."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, question in CRITERIA.items():
            self.fields[f"{key}__answer"] = forms.ChoiceField(
                label=question, choices=[("yes", "Yes"), ("no", "No")], widget=forms.RadioSelect
            )
            self.fields[f"{key}__note"] = forms.CharField(
                label="Note", required=False, max_length=MAX_TEXT, widget=forms.Textarea(attrs={"rows": 1})
            )

    def criteria(self) -> dict[str, dict[str, Any]]:
        return {
            key: {"answer": self.cleaned_data[f"{key}__answer"] == "yes", "note": self.cleaned_data[f"{key}__note"]}
            for key in CRITERIA
        }

    def rows(self) -> list[tuple[Any, Any]]:
        return [(self[f"{key}__answer"], self[f"{key}__note"]) for key in CRITERIA]

    @classmethod
    def initial_of(cls, version: DpiaVersion) -> dict[str, Any]:
        initial: dict[str, Any] = {}
        for key, answer in (version.screening or {}).items():
            initial[f"{key}__answer"] = "yes" if answer.get("answer") else "no"
            initial[f"{key}__note"] = answer.get("note", "")
        return initial


class CommentForm(forms.Form):
    comment = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))


class ReviewForm(CommentForm):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("return", "Return to the author")])


class ReclassifyForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none())
    column = forms.CharField(max_length=256, help_text="The column's name, as in the dataset's newest version.")
    personal_data = forms.BooleanField(required=False, label="Personal data")
    special_category = forms.BooleanField(required=False, label="Special-category data (GDPR art. 9)")
    protected_attribute = forms.BooleanField(required=False, label="Protected attribute")
    prohibited_input = forms.BooleanField(required=False, label="Prohibited as a model input")
    reason = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, datasets: QuerySet[Dataset], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["dataset"]
        field.queryset = datasets.order_by("team__slug", "name")

    def flags(self) -> dict[str, bool]:
        names = ("personal_data", "special_category", "protected_attribute", "prohibited_input")
        return {name: bool(self.cleaned_data[name]) for name in names}
