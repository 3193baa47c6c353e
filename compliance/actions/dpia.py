"""Actions on DPIAs: create one for a use case, edit its draft, record the screening, submit it, approve or return
it (the privacy/DPO reviewer of the use case's team, never its author), start a new version of an approved one;
and reclassify a dataset's column (the overlay the manifest and the DPIA pre-fill read).

Lock order: the DPIA row, then its versions (``select_for_update`` on the DPIA first), so that two new versions, or
an edit racing an approval, are judged one at a time.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from compliance.dpia import CONTENT_FIELDS, FLAGS, prefill, schema_columns, version_content, version_digest
from compliance.dpia_querysets import DPIA_WRITER_ROLES, REVIEW, DpiaQuerySet
from compliance.dpia_rules import (
    CRITERIA,
    DPIA_TRANSITIONS,
    EDITABLE_STATUSES,
    TEXT_SECTIONS,
    DpiaStatus,
    Likelihood,
    RiskLevel,
    Severity,
    risk_level,
    screening_outcome,
)
from compliance.models import ColumnReclassification, Dpia, DpiaTransition, DpiaVersion
from core.audit import record_event
from core.choices import AuditEventType
from core.models import Team
from core.querysets import member_team_ids
from core.refusals import Refusal, refusals_recorded
from registry.choices import LegalBasis
from registry.models import Dataset, RegisteredModel, UseCase

MAX_TEXT = 20_000
MAX_SHORT = 200
MAX_RISKS = 50
MAX_DATASETS = 100
EDITABLE_FIELDS = (*TEXT_SECTIONS, "legal_basis", "risks", "review_date", "model", "datasets")
# What an edit writes: a version's identity (dpia, number, created_at) is frozen by a trigger, and an UPDATE that
# names a frozen column is refused even when its value is unchanged.
MUTABLE_FIELDS = [
    *CONTENT_FIELDS,
    "model",
    "review_date",
    "screened_at",
    "digest",
]
APPROVE = "approve"
RETURN = "return"


def may_write(actor: User, team: Team) -> bool:
    """Compliance officers and admins of ``team`` (and platform administrators) write its DPIAs."""
    if actor.is_superuser:
        return True
    return bool(member_team_ids(actor, DPIA_WRITER_ROLES).filter(team_id=team.pk).exists())


def require_writer(actor: User, team: Team) -> None:
    if not may_write(actor, team):
        raise PermissionDenied(f"Only compliance officers and admins of team {team.slug} write its DPIAs.")


@contextmanager
def recorded(dpia: Dpia | None, *, actor: User, team: Team) -> Iterator[None]:
    with refusals_recorded(actor=actor, target=dpia, team=team):
        yield


def refused(reason: str, message: str, *, status: int = 409, field: str = "", **metadata: Any) -> Refusal:
    return Refusal(
        reason,
        message,
        event_type=AuditEventType.DPIA_REFUSED,
        status=status,
        field=field,
        metadata={"reason": reason, **metadata},
    )


# --- Validating the assessment ------------------------------------------------------------------------------------


def clean_text(name: str, value: Any, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise ValidationError({name: "Text expected."})
    if len(value) > limit:
        raise ValidationError({name: f"At most {limit} characters ({len(value)} given)."})
    if "\x00" in value:
        raise ValidationError({name: "NUL characters are not allowed."})
    return value.strip()


def clean_review_date(value: Any, today: datetime.date) -> datetime.date | None:
    if value is None:
        return None
    if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
        raise ValidationError({"review_date": "A date (YYYY-MM-DD) expected."})
    if value <= today:
        raise ValidationError(
            {"review_date": f"The review date {value.isoformat()} is not after today ({today.isoformat()})."}
        )
    return value


def clean_choice(where: str, value: Any, choices: list[str]) -> str:
    if value not in choices:
        raise ValidationError({"risks": f"{where}: one of {', '.join(choices)} (got {value!r})."})
    return str(value)


def clean_risks(value: Any) -> list[dict[str, Any]]:
    """Each risk with its levels from the matrix (compliance.dpia_rules.risk_level)."""
    if not isinstance(value, list):
        raise ValidationError({"risks": "A list of risks expected."})
    if len(value) > MAX_RISKS:
        raise ValidationError({"risks": f"At most {MAX_RISKS} risks ({len(value)} given)."})
    known = {
        "title",
        "description",
        "likelihood",
        "severity",
        "mitigations",
        "residual_likelihood",
        "residual_severity",
        "level",
        "residual_level",
    }
    cleaned = []
    for index, risk in enumerate(value):
        where = f"risks[{index}]"
        if not isinstance(risk, dict):
            raise ValidationError({"risks": f"{where}: an object expected."})
        unknown = sorted(set(risk) - known)
        if unknown:
            raise ValidationError({"risks": f"{where}: unknown field(s) {', '.join(unknown)}."})
        title = risk.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > MAX_SHORT:
            raise ValidationError({"risks": f"{where}.title: a title of 1 to {MAX_SHORT} characters."})
        texts = {}
        for name in ("description", "mitigations"):
            text = risk.get(name, "")
            if not isinstance(text, str) or len(text) > MAX_TEXT or "\x00" in text:
                raise ValidationError({"risks": f"{where}.{name}: text of at most {MAX_TEXT} characters."})
            texts[name] = text.strip()
        likelihood = clean_choice(f"{where}.likelihood", risk.get("likelihood"), Likelihood.values)
        severity = clean_choice(f"{where}.severity", risk.get("severity"), Severity.values)
        residual_likelihood = clean_choice(
            f"{where}.residual_likelihood", risk.get("residual_likelihood"), Likelihood.values
        )
        residual_severity = clean_choice(f"{where}.residual_severity", risk.get("residual_severity"), Severity.values)
        cleaned.append(
            {
                "title": title.strip(),
                "description": texts["description"],
                "likelihood": likelihood,
                "severity": severity,
                "level": risk_level(likelihood, severity),
                "mitigations": texts["mitigations"],
                "residual_likelihood": residual_likelihood,
                "residual_severity": residual_severity,
                "residual_level": risk_level(residual_likelihood, residual_severity),
            }
        )
    return cleaned


def clean_datasets(use_case: UseCase, datasets: Any) -> list[Dataset]:
    if not isinstance(datasets, list | tuple) or not all(isinstance(item, Dataset) for item in datasets):
        raise ValidationError({"datasets": "A list of datasets expected."})
    if len(datasets) > MAX_DATASETS:
        raise ValidationError({"datasets": f"At most {MAX_DATASETS} datasets."})
    foreign = sorted(dataset.name for dataset in datasets if dataset.team_id != use_case.team_id)
    if foreign:
        raise refused(
            "dataset_of_another_team",
            f"Dataset(s) {', '.join(foreign)} belong to another team: a DPIA covers the datasets of its use case's "
            f"team ({use_case.team.slug}).",
            status=400,
            field="datasets",
            datasets=foreign,
        )
    return list({dataset.pk: dataset for dataset in datasets}.values())


def clean_model(use_case: UseCase, model: Any) -> RegisteredModel | None:
    if model is None:
        return None
    if not isinstance(model, RegisteredModel) or model.use_case_id != use_case.pk:
        raise ValidationError({"model": f"The model must be one that serves use case {use_case.name}."})
    return model


def apply_changes(version: DpiaVersion, changes: dict[str, Any], *, today: datetime.date) -> None:
    """Validate ``changes`` (a subset of EDITABLE_FIELDS) onto ``version``, then pre-fill from its datasets."""
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({name: "This field cannot be edited." for name in unknown})
    use_case = version.dpia.use_case
    for name, value in changes.items():
        if name in TEXT_SECTIONS:
            setattr(version, name, clean_text(name, value))
        elif name == "legal_basis":
            if value not in ("", *LegalBasis.values):
                raise ValidationError({"legal_basis": f"One of {', '.join(LegalBasis.values)}."})
            version.legal_basis = value
        elif name == "risks":
            version.risks = clean_risks(value)
        elif name == "review_date":
            version.review_date = clean_review_date(value, today)
        elif name == "model":
            version.model = clean_model(use_case, value)
    datasets = (
        clean_datasets(use_case, changes["datasets"])
        if "datasets" in changes
        else list(Dataset.objects.filter(pk__in=[item["id"] for item in version.datasets]))
    )
    for name, value in prefill(datasets).items():
        setattr(version, name, value)
    version.prior_consultation_required = any(risk["residual_level"] == RiskLevel.HIGH for risk in version.risks)
    version.digest = version_digest(version)


def snapshot(version: DpiaVersion) -> dict[str, Any]:
    return {**version_content(version), "status": version.status, "digest": version.digest}


# --- Create and edit ----------------------------------------------------------------------------------------------


def do_create_dpia(use_case: UseCase, *, actor: User, **fields: Any) -> DpiaVersion:
    """Open the DPIA of ``use_case`` (compliance officers and admins of its team) with version 1 as a draft,
    pre-filled from ``datasets``. One DPIA per use case."""
    with recorded(None, actor=actor, team=use_case.team):
        return create_dpia(use_case, actor=actor, fields=fields)


@transaction.atomic
def create_dpia(use_case: UseCase, *, actor: User, fields: dict[str, Any]) -> DpiaVersion:
    require_writer(actor, use_case.team)
    # Lock the use case: two creates at once would both find no DPIA (the unique constraint backs this up).
    use_case = UseCase.objects.select_for_update(of=("self",)).select_related("team").get(pk=use_case.pk)
    if Dpia.objects.filter(use_case=use_case).exists():
        raise ValidationError({"use_case": f"Use case {use_case.name} already has a DPIA: edit it or version it."})
    dpia = Dpia.objects.create(use_case=use_case, created_by=actor)
    version = DpiaVersion(dpia=dpia, number=1, status=DpiaStatus.DRAFT, created_by=actor)
    fields.setdefault("datasets", [])
    apply_changes(version, fields, today=timezone.localdate())
    version.full_clean()
    version.save()
    record_event(AuditEventType.DPIA_CREATED, actor=actor, target=version, team=use_case.team, after=snapshot(version))
    return version


def lock_latest(dpia: Dpia) -> DpiaVersion:
    """Lock the DPIA, then return its newest version (locked too)."""
    Dpia.objects.select_for_update().get(pk=dpia.pk)
    # Every DPIA has its version 1 from the moment it is created (same transaction): .get of the newest.
    latest: DpiaVersion = (
        DpiaVersion.objects.select_for_update(of=("self",))
        .select_related("dpia__use_case__team")
        .filter(dpia_id=dpia.pk)
        .order_by("-number")[:1]
        .get()
    )
    return latest


def require_editable(version: DpiaVersion) -> None:
    if version.status not in EDITABLE_STATUSES:
        what = "approved: a change is a new version" if version.status == DpiaStatus.APPROVED else "under review"
        raise refused(
            "dpia_not_editable",
            f"Version {version.number} of the DPIA is {what}; it cannot be edited.",
            status=409,
            field="status",
            version=version.number,
            status_found=version.status,
        )


def do_edit_dpia(dpia: Dpia, *, actor: User, **changes: Any) -> DpiaVersion:
    """Edit the newest version while it is a draft or returned; the pre-filled parts are read again."""
    with recorded(dpia, actor=actor, team=dpia.use_case.team):
        return edit_dpia(dpia, actor=actor, changes=changes)


@transaction.atomic
def edit_dpia(dpia: Dpia, *, actor: User, changes: dict[str, Any]) -> DpiaVersion:
    require_writer(actor, dpia.use_case.team)
    version = lock_latest(dpia)
    require_editable(version)
    before = snapshot(version)
    apply_changes(version, changes, today=timezone.localdate())
    version.full_clean()
    version.save(update_fields=MUTABLE_FIELDS)
    record_event(
        AuditEventType.DPIA_UPDATED,
        actor=actor,
        target=version,
        team=dpia.use_case.team,
        before=before,
        after=snapshot(version),
    )
    return version


def clean_criteria(criteria: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(criteria, dict):
        raise ValidationError({"criteria": "An object of the nine criteria expected."})
    unknown = sorted(set(criteria) - set(CRITERIA))
    missing = [key for key in CRITERIA if key not in criteria]
    if unknown:
        raise ValidationError({"criteria": f"Unknown criteria: {', '.join(unknown)}."})
    if missing:
        raise ValidationError({"criteria": f"Answer every criterion; missing: {', '.join(missing)}."})
    cleaned = {}
    for key in CRITERIA:
        item = criteria[key]
        if not isinstance(item, dict) or set(item) - {"answer", "note"} or not isinstance(item.get("answer"), bool):
            raise ValidationError({"criteria": f"criteria.{key}: {{'answer': true|false, 'note': text}} expected."})
        note = item.get("note", "")
        if not isinstance(note, str) or len(note) > MAX_TEXT or "\x00" in note:
            raise ValidationError({"criteria": f"criteria.{key}.note: text of at most {MAX_TEXT} characters."})
        cleaned[key] = {"answer": item["answer"], "note": note.strip()}
    return cleaned


def do_screen_dpia(dpia: Dpia, *, actor: User, criteria: Any) -> DpiaVersion:
    """Record the screening of the newest (editable) version: the nine criteria, each yes or no with a note; two or
    more yes and a full DPIA is required. The outcome and why are recorded with it."""
    with recorded(dpia, actor=actor, team=dpia.use_case.team):
        return screen_dpia(dpia, actor=actor, criteria=criteria)


@transaction.atomic
def screen_dpia(dpia: Dpia, *, actor: User, criteria: Any) -> DpiaVersion:
    require_writer(actor, dpia.use_case.team)
    version = lock_latest(dpia)
    require_editable(version)
    before = snapshot(version)
    version.screening = clean_criteria(criteria)
    version.full_dpia_required, version.screening_reason = screening_outcome(version.screening)
    version.screened_at = timezone.now()
    apply_changes(version, {}, today=timezone.localdate())
    version.full_clean()
    version.save(update_fields=MUTABLE_FIELDS)
    record_event(
        AuditEventType.DPIA_SCREENED,
        actor=actor,
        target=version,
        team=dpia.use_case.team,
        before={"screening": before["screening"]},
        after={"screening": version.screening, "full_dpia_required": version.full_dpia_required},
        metadata={"reason": version.screening_reason},
    )
    return version


# --- Workflow -----------------------------------------------------------------------------------------------------


def transition(version: DpiaVersion, *, actor: User, to_status: str, comment: str = "") -> DpiaTransition:
    from_status = version.status
    if (from_status, to_status) not in DPIA_TRANSITIONS:
        raise ValidationError({"status": f"A DPIA version does not move from {from_status} to {to_status}."})
    row = DpiaTransition.objects.create(
        version=version,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        actor_name=actor.get_username(),
        comment=comment,
        at=timezone.now(),
    )
    # Conditional UPDATE: the status moves only from the one this action read (the row is also locked).
    moved = DpiaVersion.objects.filter(pk=version.pk, status=from_status).update(status=to_status)
    if moved != 1:
        raise ValidationError({"status": "The DPIA version changed meanwhile; reload it."})
    version.status = to_status
    return row


def missing_for_submission(version: DpiaVersion, today: datetime.date) -> dict[str, str]:
    """What a version lacks before review, field by field."""
    missing: dict[str, str] = {}
    if version.full_dpia_required is None:
        missing["screening"] = "Screen the processing against the nine criteria first."
    if version.review_date is None:
        missing["review_date"] = "Set the date by which the DPIA is reviewed again."
    elif version.review_date <= today:
        missing["review_date"] = f"The review date {version.review_date.isoformat()} has passed; set a later one."
    if not version.datasets:
        missing["datasets"] = "Name the datasets the DPIA covers."
    if version.full_dpia_required:
        for name in ("processing_description", "purposes", "data_subjects", "necessity", "proportionality"):
            if not getattr(version, name):
                missing[name] = f"A full DPIA states the {TEXT_SECTIONS[name].lower()}."
        if not version.legal_basis:
            missing["legal_basis"] = "A full DPIA states the legal basis."
        if not version.risks:
            missing["risks"] = "A full DPIA assesses at least one risk."
    return missing


def do_submit_dpia(dpia: Dpia, *, actor: User, comment: str = "") -> DpiaVersion:
    """Send the newest version (draft or returned) to the privacy reviewer. It must be screened, with a review
    date in the future and, when a full DPIA is required, every section of the assessment."""
    with recorded(dpia, actor=actor, team=dpia.use_case.team):
        return submit_dpia(dpia, actor=actor, comment=comment)


@transaction.atomic
def submit_dpia(dpia: Dpia, *, actor: User, comment: str) -> DpiaVersion:
    require_writer(actor, dpia.use_case.team)
    comment = clean_text("comment", comment, 4000)
    version = lock_latest(dpia)
    require_editable(version)
    missing = missing_for_submission(version, timezone.localdate())
    if missing:
        raise ValidationError(missing)
    transition(version, actor=actor, to_status=DpiaStatus.SUBMITTED, comment=comment)
    record_event(
        AuditEventType.DPIA_SUBMITTED,
        actor=actor,
        target=version,
        team=dpia.use_case.team,
        after={"status": version.status, "digest": version.digest, "comment": comment},
    )
    return version


def authors_of(version: DpiaVersion) -> set[int]:
    """Who wrote the version: its creator and whoever submitted it."""
    authors = {version.created_by_id} if version.created_by_id else set()
    submitters = version.transitions.filter(to_status=DpiaStatus.SUBMITTED).values_list("actor_id", flat=True)
    return authors | {pk for pk in submitters if pk is not None}


def do_review_dpia(dpia: Dpia, *, actor: User, decision: str, comment: str = "") -> DpiaVersion:
    """Approve or return the submitted newest version: only a reviewer holding the privacy/DPO board role in the use
    case's team, never one of its authors. Returning needs a comment (what to change)."""
    with recorded(dpia, actor=actor, team=dpia.use_case.team):
        return review_dpia(dpia, actor=actor, decision=decision, comment=comment)


@transaction.atomic
def review_dpia(dpia: Dpia, *, actor: User, decision: str, comment: str) -> DpiaVersion:
    team = dpia.use_case.team
    queryset: DpiaQuerySet = Dpia.objects.all()
    if not queryset.restrict(actor, REVIEW).filter(pk=dpia.pk).exists():
        raise refused(
            "not_privacy_reviewer",
            f"Only a reviewer holding the privacy/DPO board role in team {team.slug} approves or returns its DPIAs.",
            status=403,
            decision=decision,
        )
    if decision not in (APPROVE, RETURN):
        raise ValidationError({"decision": f"One of {APPROVE}, {RETURN}."})
    comment = clean_text("comment", comment, 4000)
    version = lock_latest(dpia)
    if actor.pk in authors_of(version):
        raise refused(
            "author_cannot_review",
            f"You wrote version {version.number} of this DPIA: another privacy reviewer must judge it.",
            status=403,
            decision=decision,
            version=version.number,
        )
    if version.status != DpiaStatus.SUBMITTED:
        raise ValidationError(
            {"status": f"Version {version.number} is {version.status}; only a submitted version is reviewed."}
        )
    if decision == RETURN and not comment:
        raise ValidationError({"comment": "Say what must change before the DPIA can be approved."})
    today = timezone.localdate()
    if decision == APPROVE and (version.review_date is None or version.review_date <= today):
        raise ValidationError({"review_date": "The review date has passed: return the DPIA for a later one."})
    to_status = DpiaStatus.APPROVED if decision == APPROVE else DpiaStatus.RETURNED
    transition(version, actor=actor, to_status=to_status, comment=comment)
    record_event(
        AuditEventType.DPIA_APPROVED if decision == APPROVE else AuditEventType.DPIA_RETURNED,
        actor=actor,
        target=version,
        team=team,
        before={"status": DpiaStatus.SUBMITTED},
        after={"status": to_status, "digest": version.digest, "comment": comment},
    )
    return version


def do_new_dpia_version(dpia: Dpia, *, actor: User) -> DpiaVersion:
    """Start the next version of an approved DPIA as a draft: a copy of the approved one, its categories read again
    from the datasets' newest versions. The approved version stays as it was."""
    with recorded(dpia, actor=actor, team=dpia.use_case.team):
        return new_dpia_version(dpia, actor=actor)


@transaction.atomic
def new_dpia_version(dpia: Dpia, *, actor: User) -> DpiaVersion:
    require_writer(actor, dpia.use_case.team)
    latest = lock_latest(dpia)
    if latest.status != DpiaStatus.APPROVED:
        raise refused(
            "dpia_version_open",
            f"Version {latest.number} is {latest.status}: edit it rather than start another.",
            status=409,
            field="status",
            version=latest.number,
        )
    version = DpiaVersion(dpia=latest.dpia, number=latest.number + 1, status=DpiaStatus.DRAFT, created_by=actor)
    for name in (*TEXT_SECTIONS, "legal_basis", "risks", "model_id", "datasets", "screening"):
        setattr(version, name, getattr(latest, name))
    version.full_dpia_required, version.screening_reason = latest.full_dpia_required, latest.screening_reason
    version.screened_at = latest.screened_at
    # The review date is a decision about the new version: kept only while it is still ahead.
    today = timezone.localdate()
    version.review_date = latest.review_date if latest.review_date and latest.review_date > today else None
    apply_changes(version, {}, today=today)
    version.full_clean()
    version.save()
    record_event(
        AuditEventType.DPIA_VERSION_CREATED,
        actor=actor,
        target=version,
        team=dpia.use_case.team,
        metadata={"from_version": latest.number, "from_digest": latest.digest},
        after=snapshot(version),
    )
    return version


# --- Column reclassification --------------------------------------------------------------------------------------


def do_reclassify_column(
    dataset: Dataset, *, actor: User, column: Any, flags: Any, reason: Any
) -> ColumnReclassification:
    """Reclassify ``column`` of ``dataset`` (every version that has it): ``flags`` sets some of personal_data,
    special_category, protected_attribute, prohibited_input. Compliance officers and admins of the dataset's team.
    Releases whose manifests cover the dataset change (their approvals go stale); DPIAs covering it show it."""
    with recorded(None, actor=actor, team=dataset.team):
        return reclassify_column(dataset, actor=actor, column=column, flags=flags, reason=reason)


@transaction.atomic
def reclassify_column(dataset: Dataset, *, actor: User, column: Any, flags: Any, reason: Any) -> ColumnReclassification:
    require_writer(actor, dataset.team)
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError({"reason": "Say why the column is reclassified."})
    reason = clean_text("reason", reason, 4000)
    if not isinstance(flags, dict) or not flags:
        raise ValidationError({"flags": f"An object of one or more of {', '.join(FLAGS)}, each true or false."})
    unknown = sorted(set(flags) - set(FLAGS))
    if unknown or not all(isinstance(value, bool) for value in flags.values()):
        raise ValidationError({"flags": f"Only {', '.join(FLAGS)}, each true or false."})
    # Lock the dataset: two reclassifications of one column read the same "before" otherwise.
    dataset = Dataset.objects.select_for_update(of=("self",)).select_related("team").get(pk=dataset.pk)
    latest = dataset.versions.order_by("-number").first()
    columns = {item["name"]: item for item in schema_columns(latest.schema)} if latest else {}
    if not isinstance(column, str) or column not in columns:
        raise ValidationError({"column": f"Dataset {dataset.name}'s newest version has no column {column!r}."})
    previous = ColumnReclassification.objects.filter(dataset=dataset, column=column).order_by("-created_at", "-id")
    newest = previous.first()
    before = (
        {flag: bool(newest.after.get(flag)) for flag in FLAGS}
        if newest
        else {flag: bool(columns[column].get(flag)) for flag in FLAGS}
    )
    after = {**before, **flags}
    if after["special_category"] and not after["personal_data"]:
        raise ValidationError({"flags": "Special-category data is personal data: personal_data must be true."})
    if after == before:
        raise ValidationError({"flags": f"Column {column} already reads so; nothing would change."})
    row = ColumnReclassification(
        dataset=dataset, column=column, before=before, after=after, reason=reason, created_by=actor
    )
    row.full_clean()
    row.save()
    record_event(
        AuditEventType.COLUMN_RECLASSIFIED,
        actor=actor,
        target=dataset,
        team=dataset.team,
        before={"column": column, **before},
        after={"column": column, **after},
        metadata={"reason": reason, "reclassification": row.pk},
    )
    return row
