"""Forms of the registry's pages: the edit forms of use cases, datasets and models (at the end), and the forms
that start Spark jobs. The job forms check the shape of the input and hand it to an action in
``registry.actions`` (do_request_materialization, do_request_training); every rule about teams, inputs, labels and
algorithms is the action's, so the API and the web agree. The choices offered are what the user may see; a value
outside them (a tampered form) is a field error like any other, and no job is asked for.

Each form carries an idempotency key, generated when the form is rendered: a second submission of the same page (a
double click, a reload of the POST) finds the job the first one started (core.jobs.dispatch_job).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Model

from core.api.inputs import InputRefused
from core.api.parsers import loads
from core.idempotency import IDEMPOTENCY_KEY_MAX, validate_idempotency_key
from registry.editable import DATASET_FIELDS, MODEL_FIELDS, USE_CASE_FIELDS
from registry.models import Dataset, RegisteredModel, UseCase

# registry.pipelines.training.ALGORITHMS, with words people read (importing it here would load numpy with the URLs).
ALGORITHM_CHOICES = [("logistic_regression", "Logistic regression"), ("gbt", "Gradient-boosted trees")]


def new_idempotency_key() -> str:
    return f"ui-{uuid.uuid4().hex}"


def _choices(rows: Iterable[tuple[int, str]], empty: str | None = None) -> list[tuple[Any, str]]:
    choices: list[tuple[Any, str]] = [("", empty)] if empty is not None else []
    return choices + [(str(pk), label) for pk, label in rows]


class JobRequestForm(forms.Form):
    # The one rule of core.idempotency, as the API's serializers and the actions check it.
    idempotency_key = forms.CharField(
        widget=forms.HiddenInput, max_length=IDEMPOTENCY_KEY_MAX, validators=[validate_idempotency_key]
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("idempotency_key", new_idempotency_key())
        super().__init__(*args, **kwargs)

    def _set_choices(self, name: str, choices: list[tuple[Any, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def apply_action_error(self, error: ValidationError) -> None:
        """An action's ValidationError on the form: on the visible field it names when the form has one (the
        action's ``then_train`` on the form's ``then_train``), else on top."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        for name, messages in error.message_dict.items():
            field = self.fields.get(name)
            visible = field is not None and not field.widget.is_hidden
            self.add_error(name if visible else None, messages)


class MaterializeForm(JobRequestForm):
    """Materialize a feature view from a version of its source dataset, at the rows of an optional spine; then, if
    asked, train a model of the team on the result."""

    dataset_version = forms.TypedChoiceField(
        coerce=int, label="Source dataset version", help_text="A version of the view's source dataset."
    )
    spine_dataset_version = forms.TypedChoiceField(
        coerce=int,
        empty_value=None,
        required=False,
        label="Spine",
        help_text="The rows to compute features at (entity, event time and the labels): a dataset version of the "
        "team. Without one, every entity at each of its event times.",
    )
    then_train = forms.BooleanField(required=False, label="Then train a model on the result")
    train_model = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label="Model")
    train_label = forms.CharField(
        required=False, max_length=255, label="Label column", help_text="A boolean or 0/1 column of the spine."
    )
    train_algorithm = forms.ChoiceField(required=False, label="Algorithm", choices=ALGORITHM_CHOICES)

    def __init__(
        self,
        *args: Any,
        dataset_versions: Iterable[tuple[int, str]],
        spine_versions: Iterable[tuple[int, str]],
        models: Iterable[tuple[int, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._set_choices("dataset_version", _choices(dataset_versions))
        self._set_choices("spine_dataset_version", _choices(spine_versions, "None (every event of every entity)"))
        self._set_choices("train_model", _choices(models, "Choose a model"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("then_train"):
            for name, message in (
                ("train_model", "Choose the model to train."),
                ("train_label", "Name the label column."),
                ("train_algorithm", "Choose an algorithm."),
            ):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, message)
        return data

    def action_arguments(self) -> dict[str, Any]:
        """The keyword arguments of registry.actions.do_request_materialization, as the API passes them."""
        data = self.cleaned_data
        arguments: dict[str, Any] = {
            "dataset_version": data["dataset_version"],
            "spine_dataset_version": data["spine_dataset_version"],
            "idempotency_key": data["idempotency_key"],
        }
        if data.get("then_train"):
            arguments["then_train"] = {
                "model": data["train_model"],
                "label": data["train_label"],
                "algorithm": data["train_algorithm"],
            }
        return arguments


class TrainForm(JobRequestForm):
    """Train a binary classifier on a materialized feature-set version of the model's team."""

    feature_set_version = forms.TypedChoiceField(
        coerce=int, label="Feature-set version", help_text="A version a materialization job wrote."
    )
    label = forms.CharField(
        max_length=255,
        label="Label column",
        help_text="A boolean or 0/1 column of the data the feature set was built from (its spine).",
    )
    algorithm = forms.ChoiceField(choices=ALGORITHM_CHOICES)
    features = forms.CharField(
        required=False,
        max_length=4000,
        label="Features",
        help_text="Names separated by commas or spaces; all of the version's features when empty.",
    )

    params = forms.CharField(
        required=False,
        max_length=4000,
        label="Hyper-parameters",
        widget=forms.TextInput(attrs={"placeholder": '{"maxIter": 30}', "spellcheck": "false"}),
        help_text="A JSON object; the defaults when empty (docs/spark-jobs.md lists them).",
    )

    def __init__(self, *args: Any, feature_set_versions: Iterable[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set_choices("feature_set_version", _choices(feature_set_versions))

    def clean_features(self) -> list[str] | None:
        names = [name for name in re.split(r"[\s,]+", self.cleaned_data.get("features") or "") if name]
        return names or None

    def clean_params(self) -> dict[str, Any]:
        """The JSON object as written; which names and values are allowed is the action's (and the API's) rule."""
        text = (self.cleaned_data.get("params") or "").strip()
        if not text:
            return {}
        try:
            # The API's rule for JSON a client sends (core.api.inputs): depth bounded before parsing, no NUL.
            value = loads(text)
        except InputRefused as refused:
            raise ValidationError(refused.explained) from None
        except json.JSONDecodeError as error:
            raise ValidationError(f"Not JSON: {error.msg} (line {error.lineno}, column {error.colno}).") from None
        if not isinstance(value, dict):
            raise ValidationError('Must be a JSON object of names and values, such as {"maxIter": 30}.')
        return value

    def action_arguments(self) -> dict[str, Any]:
        """The keyword arguments of registry.actions.do_request_training, as the API passes them."""
        data = self.cleaned_data
        return {
            "feature_set_version": data["feature_set_version"],
            "label": data["label"],
            "algorithm": data["algorithm"],
            "params": data["params"],
            "features": data["features"],
            "idempotency_key": data["idempotency_key"],
        }


# --- Edit forms ---------------------------------------------------------------------------------------------------
#
# The metadata of a use case, a dataset or a registered model, as PATCH /api/v1/{use-cases,datasets,models}/{id}/
# takes it, for the same people (the team's engineers and admins), through the same action (do_update_use_case,
# do_update_dataset, do_update_model). The form only reads what was typed into the values the action takes; every
# rule (names, owners, use cases, locations, list shapes) is the action's, and its refusal is shown on the field it
# names. Only the fields that changed are sent, as a PATCH would send them.

# The editable fields, in the order the form shows them: the actions' own lists, read here and nowhere else in the
# pages, so that one list decides what the API, the CLI and the web edit.
EDITABLE_FIELDS: dict[type[Model], tuple[str, ...]] = {
    UseCase: USE_CASE_FIELDS,
    Dataset: DATASET_FIELDS,
    RegisteredModel: MODEL_FIELDS,
}

# JSON lists of short texts, typed one per line (tags: separated by commas, spaces or lines).
LIST_FIELDS: dict[str, tuple[str, str]] = {
    "tags": (r"[\s,]+", "Short lower-case labels (fraud, tier-1, team:payments), separated by commas or spaces."),
    "partitioning": (r"[\r\n]+", "The partition columns, one per line."),
    "upstream_dependencies": (r"[\r\n]+", "The systems and models it depends on, one per line."),
    "stakeholders": (r"[\r\n]+", "Who has a stake in it, one per line."),
}


class TextListField(forms.CharField):
    """A JSON list of strings, typed as text: split on ``separators``, blanks dropped; the action checks the list
    (its length, each item's characters, duplicates) as it checks the API's."""

    def __init__(self, *, separators: str, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}))
        super().__init__(required=False, **kwargs)
        self.separators = re.compile(separators)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ("\n" if self.separators.pattern.startswith(r"[\r\n]") else ", ").join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [item.strip() for item in self.separators.split(text) if item.strip()]


class KpiField(forms.JSONField):
    """The use case's KPIs, as the API's JSON list of ``{"name", "unit", "baseline", "target", "description"}``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}))
        super().__init__(required=False, **kwargs)

    def to_python(self, value: Any) -> Any:
        parsed = super().to_python(value)
        return [] if parsed is None else parsed


class RegistryEditForm(forms.Form):
    """The edit form of one registry object: one field per name of ``EDITABLE_FIELDS[type(instance)]``.

    ``owner`` offers the team's members (and the current owner); ``use_case`` the team's use cases the user may see
    (and the current one); list fields are typed as text; the rest are the model's own form fields.

    The hidden ``rendered`` field carries the values the form was shown with: a field counts as changed when the
    user changed it on the page, so that a field someone else changed meanwhile is not written back.
    """

    def __init__(
        self,
        data: Any = None,
        *,
        instance: Any,
        members: Iterable[str],
        use_cases: Iterable[tuple[int, str]] = (),
    ) -> None:
        super().__init__(data)
        self.instance = instance
        model_class = type(instance)
        names = EDITABLE_FIELDS[model_class]
        special = {"owner", "use_case", "kpis", *LIST_FIELDS}
        plain = forms.fields_for_model(model_class, fields=[name for name in names if name not in special])
        for name in names:
            model_field = model_class._meta.get_field(name)
            label = str(getattr(model_field, "verbose_name", name)).capitalize()
            if name == "owner":
                current = instance.owner.get_username() if instance.owner_id else ""
                usernames = sorted({*members, *([current] if current else [])})
                self.fields[name] = forms.ChoiceField(
                    label="Owner",
                    choices=[(username, username) for username in usernames],
                    help_text="A member of the team, who answers for it.",
                )
            elif name == "use_case":
                offered = dict(use_cases)
                if instance.use_case_id and instance.use_case_id not in offered:
                    offered[instance.use_case_id] = str(instance.use_case)
                self.fields[name] = forms.TypedChoiceField(
                    coerce=int,
                    empty_value=None,
                    required=False,
                    label="Use case",
                    choices=_choices(sorted(offered.items(), key=lambda item: item[1]), "None"),
                    help_text="Why the model exists: a use case of the same team.",
                )
            elif name == "kpis":
                self.fields[name] = KpiField(
                    label="KPIs",
                    help_text='A JSON list: [{"name": "Churn", "unit": "%", "baseline": 12, "target": 9}].',
                )
            elif name in LIST_FIELDS:
                separators, help_text = LIST_FIELDS[name]
                self.fields[name] = TextListField(separators=separators, label=label, help_text=help_text)
            else:
                field = plain[name]
                field.label = label
                if isinstance(field.widget, forms.Textarea):
                    field.widget.attrs["rows"] = 4
                self.fields[name] = field
        self.fields["rendered"] = forms.CharField(required=False, widget=forms.HiddenInput)
        current = self.current()
        self.initial = {**current, "rendered": json.dumps(current, sort_keys=True)}

    def current(self) -> dict[str, Any]:
        """The object's values as this form's fields clean them."""
        values: dict[str, Any] = {}
        for name in EDITABLE_FIELDS[type(self.instance)]:
            if name == "owner":
                values[name] = self.instance.owner.get_username() if self.instance.owner_id else ""
            elif name == "use_case":
                values[name] = self.instance.use_case_id
            else:
                values[name] = getattr(self.instance, name)
        return values

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name, value in data.items():
            if isinstance(value, str):  # browsers send line breaks as CRLF; the API's text has LF
                data[name] = value.replace("\r\n", "\n")
        return data

    def changes(self) -> dict[str, Any]:
        """The keyword arguments of the update action: the fields whose value differs from the object's, with the
        owner as a user and the use case as a use case, as the API's serializer hands them over."""
        shown = self.current()
        try:
            rendered = json.loads(self.cleaned_data.get("rendered") or "")
        except ValueError:
            rendered = None
        if isinstance(rendered, dict):
            shown = {name: rendered.get(name, value) for name, value in shown.items()}
        changes = {name: self.cleaned_data[name] for name in shown if self.cleaned_data.get(name) != shown[name]}
        if "owner" in changes:
            changes["owner"] = (
                get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: changes["owner"]}).first()
            )
        if changes.get("use_case") is not None:
            changes["use_case"] = UseCase.objects.filter(pk=changes["use_case"]).first()
        return changes
