"""Reasons a person can be given: which of a model's features may never be one, the checks on a reason catalogue
(audits.actions.do_set_reason_catalogue writes it) and the catalogue in force. docs/audits.md, "Reason catalogues"."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError

from audits.models import ReasonCatalogue, ReasonDirection
from registry.interface import InterfaceError, feature_columns
from registry.models import DatasetVersion, ModelVersion, RegisteredModel

# The column flags that bar a feature from being given as a reason, in words: a decision is never explained to a
# person by a protected characteristic, special-category data or an input that was prohibited.
NEVER_A_REASON = {
    "protected_attribute": "a protected attribute",
    "special_category": "special-category data",
    "prohibited_input": "prohibited as a model input",
}


def sensitive_columns(dataset_versions: Iterable[DatasetVersion]) -> dict[str, str]:
    """``{casefolded column: why}`` of the columns the dataset versions' schemas flag with ``NEVER_A_REASON``
    ("a protected attribute in loans v3")."""
    found: dict[str, str] = {}
    for version in dataset_versions:
        schema = version.schema if isinstance(version.schema, dict) else {}
        for column in schema.get("columns") or []:
            for flag, words in NEVER_A_REASON.items():
                if column.get(flag):
                    found.setdefault(str(column["name"]).casefold(), f"{words} in {version}")
    return found


def model_sensitive_columns(model: RegisteredModel) -> dict[str, str]:
    """``sensitive_columns`` of every dataset version a version of ``model`` was trained or audited on."""
    trained = DatasetVersion.objects.filter(model_versions__model=model)
    audited = DatasetVersion.objects.filter(audit_reports__model_version__model=model)
    ids = set(trained.values_list("pk", flat=True)) | set(audited.values_list("pk", flat=True))
    return sensitive_columns(DatasetVersion.objects.filter(pk__in=ids).select_related("dataset").order_by("pk"))


def current_catalogue_id(model: RegisteredModel) -> int | None:
    """The id of the catalogue in force, or None (separation of duties names its writer: governance.manifest)."""
    found: int | None = (
        ReasonCatalogue.objects.filter(model=model).order_by("-number").values_list("pk", flat=True).first()
    )
    return found


def current_catalogue(model: RegisteredModel | int) -> ReasonCatalogue | None:
    """The reason catalogue in force for ``model`` (its newest version), or None when it has none."""
    model_id = model if isinstance(model, int) else model.pk
    return ReasonCatalogue.objects.filter(model_id=model_id).order_by("-number").first()


# --- The checks on a catalogue (audits.actions.do_set_reason_catalogue) -------------------------------------------

MAX_ENTRIES = 500
MAX_TEXT = 300
MAX_DECISION = 200
MAX_NOTE = 4000
ENTRY_FIELDS = ("feature", "direction", "text")
# A sentence is shown to a person in a letter and on a page: plain text on one line, never markup.
_MARKUP = re.compile(r"[<>]")


def model_features(model: RegisteredModel) -> list[str]:
    """The features of ``model`` as its versions' interfaces name them: the union over every version, in the order
    of the first version that reads each (a catalogue may cover a feature an older version still in service uses)."""
    found: dict[str, str] = {}
    for interface in ModelVersion.objects.filter(model=model).order_by("number").values_list("interface", flat=True):
        try:
            columns = feature_columns(interface if isinstance(interface, dict) else {})
        except InterfaceError:
            continue  # a version whose inputs no column feeds names no feature a person could be told about
        for column in columns:
            found.setdefault(column.casefold(), column)
    return list(found.values())


def _one_line(value: Any, field: str, limit: int, errors: dict[str, str], what: str) -> str:
    """``value`` stripped, when it is non-empty plain text of one line within ``limit`` characters; else the
    error on ``field``."""
    if not isinstance(value, str) or not value.strip():
        errors[field] = f"{what}: a non-empty string."
        return ""
    text = value.strip()
    if len(text) > limit:
        errors[field] = f"{what}: at most {limit} characters (this one has {len(text)})."
    elif any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in text):
        errors[field] = f"{what}: a single line, without control characters."
    elif _MARKUP.search(text):
        errors[field] = f"{what}: plain text, no HTML (the characters < and > are refused)."
    return text


def clean_catalogue(
    model: RegisteredModel, *, entries: Any, threshold: Any, positive_decision: Any, negative_decision: Any, note: Any
) -> dict[str, Any]:
    """The catalogue's fields as they are stored, or a ValidationError naming every field at fault
    (``entries[3].feature``): entries sorted in the model's feature order ("raises" before "lowers"), each feature
    spelled as the model spells it, and never one of ``model_sensitive_columns``."""
    features = model_features(model)
    if not features:
        if not ModelVersion.objects.filter(model=model).exists():
            why = f"{model} has no version yet: register one, then write the reasons for its features."
        else:
            why = (
                f"No version of {model} names its features (an input of several columns needs the ONNX metadata "
                "property 'features'): there is nothing to give a reason about."
            )
        raise ValidationError({"model": why})
    errors: dict[str, str] = {}
    cleaned = []
    if not isinstance(entries, list):
        errors["entries"] = "A list of entries, each {feature, direction, text}."
    elif len(entries) > MAX_ENTRIES:
        errors["entries"] = f"At most {MAX_ENTRIES} entries (this list has {len(entries)})."
    else:
        by_name = {feature.casefold(): feature for feature in features}
        never = model_sensitive_columns(model)
        directions = ReasonDirection.values
        seen: dict[tuple[str, str], int] = {}
        for index, entry in enumerate(entries):
            where = f"entries[{index}]"
            if not isinstance(entry, dict):
                errors[where] = "An object with exactly feature, direction and text."
                continue
            unknown = sorted(set(entry) - set(ENTRY_FIELDS), key=str)
            for name in unknown:
                errors[f"{where}.{name}"] = "Unknown field: an entry has exactly feature, direction and text."
            for name in ENTRY_FIELDS:
                if name not in entry:
                    errors[f"{where}.{name}"] = "This field is required."
            if unknown or len(entry) != len(ENTRY_FIELDS):
                continue
            feature, direction = entry["feature"], entry["direction"]
            name = by_name.get(feature.strip().casefold()) if isinstance(feature, str) else None
            if name is None:
                errors[f"{where}.feature"] = (
                    f"{feature!r} is not a feature of {model}: its features are {', '.join(features)}."
                )
            elif name.casefold() in never:
                errors[f"{where}.feature"] = (
                    f"{name!r} is never given as a reason: it is {never[name.casefold()]} (a decision is never "
                    "explained to a person by a protected characteristic, special-category data or a prohibited input)."
                )
            if direction not in directions:
                errors[f"{where}.direction"] = f"{direction!r} is not a direction: one of {', '.join(directions)}."
            text = _one_line(entry["text"], f"{where}.text", MAX_TEXT, errors, "The sentence shown to a person")
            if name is not None and direction in directions:
                earlier = seen.setdefault((name, direction), index)
                if earlier != index:
                    errors[f"{where}.direction"] = (
                        f"entries[{earlier}] already gives {name!r} a {direction!r} sentence: one per feature and "
                        "direction."
                    )
            cleaned.append({"feature": name, "direction": direction, "text": text})
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        errors["threshold"] = "The score that splits the two decisions: a number from 0 to 1."
    positive = _one_line(positive_decision, "positive_decision", MAX_DECISION, errors, "The decision at or above it")
    negative = _one_line(negative_decision, "negative_decision", MAX_DECISION, errors, "The decision below it")
    if not isinstance(note, str):
        errors["note"] = "A string: what changed, and why."
    elif len(note) > MAX_NOTE:
        errors["note"] = f"At most {MAX_NOTE} characters."
    if errors:
        raise ValidationError(errors)
    order = {feature: position for position, feature in enumerate(features)}
    cleaned.sort(key=lambda entry: (order[entry["feature"]], directions.index(entry["direction"])))
    return {
        "entries": cleaned,
        "threshold": float(threshold),
        "positive_decision": positive,
        "negative_decision": negative,
        "note": note.strip(),
    }


def catalogue_rows(model: RegisteredModel, catalogue: ReasonCatalogue | None) -> list[dict[str, Any]]:
    """Every feature of ``model`` with the catalogue's sentence for each direction (None: no reason text) and, for a
    feature that may never be a reason, why: what the model's page shows, so that the gaps are visible, and what its
    edit form offers."""
    never = model_sensitive_columns(model)
    texts = {
        (entry["feature"], entry["direction"]): entry["text"] for entry in (catalogue.entries if catalogue else [])
    }
    return [
        {
            "feature": feature,
            "never": never.get(feature.casefold()),
            "texts": [
                (direction, label, texts.get((feature, direction))) for direction, label in ReasonDirection.choices
            ],
        }
        for feature in model_features(model)
    ]


def catalogue_changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, list[str]]:
    """What a new catalogue changed against the one it replaces, as ``"feature (direction)"``: entries added,
    removed, and reworded (the same feature and direction, another sentence)."""
    old = {(entry["feature"], entry["direction"]): entry["text"] for entry in before}
    new = {(entry["feature"], entry["direction"]): entry["text"] for entry in after}

    def named(keys: Iterable[tuple[str, str]]) -> list[str]:
        return [f"{feature} ({direction})" for feature, direction in keys]

    return {
        "added": named(key for key in new if key not in old),
        "removed": named(key for key in old if key not in new),
        "reworded": named(key for key in new if key in old and old[key] != new[key]),
    }


def manifest_entry(model: RegisteredModel) -> dict[str, Any] | None:
    """The catalogue in force as the release manifest carries it (governance.manifest), or None: a change of it
    after approval changes the manifest, and the approvals go stale."""
    catalogue = current_catalogue(model)
    if catalogue is None:
        return None
    return {
        "id": catalogue.pk,
        "number": catalogue.number,
        "digest": catalogue.digest,
        "entries": catalogue.entries,
        "threshold": catalogue.threshold,
        "positive_decision": catalogue.positive_decision,
        "negative_decision": catalogue.negative_decision,
        "note": catalogue.note,
    }
