"""What changed from one dataset schema version to the next, each change marked compatible (a reader of the old
schema still reads the new data) or breaking, and privacy changes that need a reviewer. The table of rules is in
docs/registry-rules.md."""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry.schema.datatypes import FLAGS, Column, Schema, fold_name

_FLAG_WORDS = {
    "personal_data": "personal data",
    "special_category": "special-category data",
    "protected_attribute": "a protected attribute",
    "prohibited_input": "prohibited as a model input",
    "subject_identifier": "a subject identifier",
}


class ChangeKind(enum.StrEnum):
    COLUMN_ADDED = "column_added"
    COLUMN_DROPPED = "column_dropped"
    COLUMN_RENAMED = "column_renamed"
    TYPE_WIDENED = "type_widened"
    TYPE_CHANGED = "type_changed"
    NULLABILITY_RELAXED = "nullability_relaxed"
    NULLABILITY_TIGHTENED = "nullability_tightened"
    FLAG_ADDED = "flag_added"
    FLAG_REMOVED = "flag_removed"
    DESCRIPTION_CHANGED = "description_changed"


@dataclass(frozen=True)
class Change:
    """One difference between two versions. ``compatible``: a reader of the old version still reads the new data.
    ``needs_review``: a privacy protection was removed, which a compliance officer should confirm."""

    kind: ChangeKind
    column: str
    detail: str
    compatible: bool
    needs_review: bool = False
    previous_column: str | None = None
    flag: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "column": self.column,
            "previous_column": self.previous_column,
            "flag": self.flag,
            "detail": self.detail,
            "compatible": self.compatible,
            "needs_review": self.needs_review,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Change:
        return cls(
            kind=ChangeKind(data["kind"]),
            column=data["column"],
            detail=data["detail"],
            compatible=data["compatible"],
            needs_review=data["needs_review"],
            previous_column=data["previous_column"],
            flag=data["flag"],
        )


@dataclass(frozen=True)
class SchemaDiff:
    changes: tuple[Change, ...]

    @property
    def is_breaking(self) -> bool:
        return any(not change.compatible for change in self.changes)

    @property
    def needs_review(self) -> bool:
        return any(change.needs_review for change in self.changes)

    @property
    def breaking_changes(self) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if not change.compatible)

    def to_json(self) -> dict[str, Any]:
        """The stored form: the verdicts first, so a query on the version row need not walk the list."""
        return {
            "breaking": self.is_breaking,
            "needs_review": self.needs_review,
            "changes": [change.to_json() for change in self.changes],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SchemaDiff:
        return cls(tuple(Change.from_json(item) for item in data["changes"]))


class BreakingSchemaChange(ValueError):
    """A new version breaks readers of the previous one and the client did not say it meant to."""

    def __init__(self, diff: SchemaDiff) -> None:
        self.diff = diff
        listed = "; ".join(f"{change.column}: {change.detail}" for change in diff.breaking_changes)
        super().__init__(f"breaking schema change (set the breaking-change flag to register it anyway): {listed}")


def _signature(column: Column) -> tuple[Any, ...]:
    return (column.type, column.nullable, column.flags())


def _pair_renames(dropped: list[Column], added: list[Column]) -> list[tuple[Column, Column]]:
    """Pairs (old, new) that are probably one column renamed: the only dropped and the only added column with the
    same type, nullability and flags. Ambiguous candidates are left as a drop and an add."""
    dropped_by_signature: dict[tuple[Any, ...], list[Column]] = defaultdict(list)
    added_by_signature: dict[tuple[Any, ...], list[Column]] = defaultdict(list)
    for column in dropped:
        dropped_by_signature[_signature(column)].append(column)
    for column in added:
        added_by_signature[_signature(column)].append(column)
    pairs = []
    for signature, olds in dropped_by_signature.items():
        news = added_by_signature.get(signature, [])
        if len(olds) == 1 and len(news) == 1:
            pairs.append((olds[0], news[0]))
    return pairs


def _type_change(old: Column, new: Column) -> Change | None:
    if old.type == new.type:
        return None
    if old.type.widens_to(new.type):
        return Change(ChangeKind.TYPE_WIDENED, new.name, f"type widened from {old.type} to {new.type}", True)
    verb = "narrowed" if new.type.widens_to(old.type) else "changed"
    return Change(ChangeKind.TYPE_CHANGED, new.name, f"type {verb} from {old.type} to {new.type}", False)


def _column_changes(old: Column, new: Column) -> list[Change]:
    changes: list[Change] = []
    type_change = _type_change(old, new)
    if type_change is not None:
        changes.append(type_change)
    if old.nullable and not new.nullable:
        changes.append(
            Change(ChangeKind.NULLABILITY_TIGHTENED, new.name, "now refuses nulls that earlier data may hold", False)
        )
    elif new.nullable and not old.nullable:
        changes.append(Change(ChangeKind.NULLABILITY_RELAXED, new.name, "now allows nulls", True))
    for flag in FLAGS:
        before, after = getattr(old, flag), getattr(new, flag)
        if before and not after:
            # Dropping a protection is allowed (a column can be anonymised) but someone must confirm it.
            changes.append(
                Change(
                    ChangeKind.FLAG_REMOVED,
                    new.name,
                    f"no longer marked as {_FLAG_WORDS[flag]}: needs review",
                    True,
                    needs_review=True,
                    flag=flag,
                )
            )
        elif after and not before:
            changes.append(
                Change(ChangeKind.FLAG_ADDED, new.name, f"now marked as {_FLAG_WORDS[flag]}", True, flag=flag)
            )
    if old.description != new.description:
        changes.append(Change(ChangeKind.DESCRIPTION_CHANGED, new.name, "description changed", True))
    return changes


def diff_schemas(old: Schema, new: Schema) -> SchemaDiff:
    """Every change from ``old`` to ``new``, in the new schema's column order, then the dropped columns.

    Columns are matched by name without case (as Spark matches them); order is not compared, since Parquet, Avro,
    ORC and Delta resolve columns by name.
    """
    added = [column for column in new.columns if old.column(column.name) is None]
    dropped = [column for column in old.columns if new.column(column.name) is None]
    renames = _pair_renames(dropped, added)
    renamed_to = {fold_name(new_column.name): old_column for old_column, new_column in renames}
    renamed_from = {fold_name(old_column.name) for old_column, _ in renames}

    changes: list[Change] = []
    for column in new.columns:
        previous = old.column(column.name)
        if previous is not None:
            if previous.name != column.name:
                changes.append(
                    Change(
                        ChangeKind.COLUMN_RENAMED,
                        column.name,
                        f"renamed from {previous.name!r}: only the letter case changed, which case-sensitive "
                        "readers (Parquet, pandas) see as another column",
                        False,
                        previous_column=previous.name,
                    )
                )
            changes.extend(_column_changes(previous, column))
        elif fold_name(column.name) in renamed_to:
            source = renamed_to[fold_name(column.name)]
            changes.append(
                Change(
                    ChangeKind.COLUMN_RENAMED,
                    column.name,
                    f"probably renamed from {source.name!r} (one column dropped and one added with the same type, "
                    "nullability and flags)",
                    False,
                    previous_column=source.name,
                )
            )
            changes.extend(_column_changes(source, column))
        elif column.nullable:
            changes.append(Change(ChangeKind.COLUMN_ADDED, column.name, f"added, nullable {column.type}", True))
        else:
            changes.append(
                Change(
                    ChangeKind.COLUMN_ADDED,
                    column.name,
                    f"added, non-nullable {column.type}: earlier data has no value for it",
                    False,
                )
            )
    for column in dropped:
        if fold_name(column.name) not in renamed_from:
            changes.append(Change(ChangeKind.COLUMN_DROPPED, column.name, f"dropped ({column.type})", False))
    return SchemaDiff(tuple(changes))


def check_evolution(old: Schema | None, new: Schema, *, allow_breaking: bool) -> SchemaDiff:
    """The diff to record for a new version, or ``BreakingSchemaChange`` if it breaks and that was not allowed.

    The first version of a dataset (``old`` is None) has nothing to break.
    """
    diff = SchemaDiff(()) if old is None else diff_schemas(old, new)
    if diff.is_breaking and not allow_breaking:
        raise BreakingSchemaChange(diff)
    return diff
