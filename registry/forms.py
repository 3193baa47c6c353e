"""Forms of the registry's pages that start Spark jobs. They check the shape of the input and hand it to an action in
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
from django.core.exceptions import ValidationError

from core.api.inputs import InputRefused
from core.api.parsers import loads

# The same alphabet as registry.actions.jobs and the API's serializers.
IDEMPOTENCY_KEY = re.compile(r"\A[A-Za-z0-9._:-]{1,128}\Z")
# registry.pipelines.training.ALGORITHMS, with words people read (importing it here would load numpy with the URLs).
ALGORITHM_CHOICES = [("logistic_regression", "Logistic regression"), ("gbt", "Gradient-boosted trees")]


def new_idempotency_key() -> str:
    return f"ui-{uuid.uuid4().hex}"


def _choices(rows: Iterable[tuple[int, str]], empty: str | None = None) -> list[tuple[Any, str]]:
    choices: list[tuple[Any, str]] = [("", empty)] if empty is not None else []
    return choices + [(str(pk), label) for pk, label in rows]


class _JobRequestForm(forms.Form):
    idempotency_key = forms.RegexField(IDEMPOTENCY_KEY, widget=forms.HiddenInput, max_length=128)

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


class MaterializeForm(_JobRequestForm):
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


class TrainForm(_JobRequestForm):
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
