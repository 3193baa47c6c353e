"""The release manifest: what a reviewer signs, built from the database and never accepted from a client.

``build_manifest(release)`` reads the current state of everything the release covers: the model version's artifact
(digest and size), interface contract, training parameters and metrics and authors; the model card (intended use,
limitations, assumptions, owner); the use case and its risk tier; each dataset version the model was trained on
with its fingerprints and the dataset's compliance metadata (classification, residency, legal basis, and the
columns marked personal, special-category, protected or prohibited); each feature-set version with its fingerprint;
the audit reports and the DPIA (empty until those exist); the model's reason catalogue in force (what a person is
told about a decision, audits.reasons); the model version's lineage (its upstream closure's runs
and edges, lineage.traversal, with their digest, so that a change upstream changes the manifest); the policy
version in force with its rules;
the data access grants it relies on for other teams' datasets (governance.grants, only when there are any); the
requester, the server's nonce and the request time. ``manifest_digest`` is the SHA-256 of its RFC 8785 bytes.

Rebuilt later with the release's own nonce and time, it gives the same digest unless something it covers changed;
an approval counts only while the digest it signed is the current one (governance.evaluation). docs/releases.md
("The manifest") lists every field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db.models import Q

from audits.reasons import current_catalogue_id
from audits.reasons import manifest_entry as reason_catalogue_entry
from audits.selection import manifest_entries
from compliance.dpia import effective_columns, flagged_columns, manifest_entry, overlay_of
from core.canonical import canonical_digest, to_stored_json
from core.choices import AuditEventType
from core.models import AuditEvent
from governance.grants import grants_section
from governance.models import Release
from lineage.traversal import Closure, upstream_closure

MANIFEST_FORMAT = "assay.release-manifest/v1"

# The events that change what a manifest covers (status changes and the release path's own events do not).
CHANGE_EVENTS = (
    AuditEventType.USE_CASE_CREATED,
    AuditEventType.USE_CASE_UPDATED,
    AuditEventType.DATASET_CREATED,
    AuditEventType.DATASET_UPDATED,
    AuditEventType.DATASET_VERSION_REGISTERED,
    AuditEventType.MODEL_CREATED,
    AuditEventType.MODEL_UPDATED,
    AuditEventType.MODEL_VERSION_REGISTERED,
    AuditEventType.FEATURE_VIEW_CREATED,
    AuditEventType.FEATURE_VIEW_UPDATED,
    AuditEventType.FEATURE_SET_VERSION_REGISTERED,
    AuditEventType.COLUMN_RECLASSIFIED,
    AuditEventType.REASON_CATALOGUE_SET,
)


def format_time(moment: datetime) -> str:
    """UTC, always six fraction digits, ``Z``: one spelling, so the same instant always hashes the same."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def subject_name(release: Release) -> str:
    """``<team slug>/<model name>@v<number>``: the statement subject of the release's artifact."""
    version = release.model_version
    return f"{version.model.team.slug}/{version.model.name}@v{version.number}"


def _username(user: Any) -> str | None:
    return None if user is None else str(user.get_username())


def _dataset_versions(model_version: Any) -> list[dict[str, Any]]:
    rows = list(model_version.dataset_versions.select_related("dataset__owner").order_by("dataset_id", "number"))
    # Columns as reclassified since the version was registered (compliance's overlay): a reclassification changes
    # the manifest, so approvals signed before it go stale.
    overlay = overlay_of([row.dataset_id for row in rows])
    return [
        {
            "id": row.pk,
            "dataset": {
                "id": row.dataset.pk,
                "name": row.dataset.name,
                "owner": _username(row.dataset.owner),
                "classification": row.dataset.classification,
                "residency_region": row.dataset.residency_region,
                "legal_basis": row.dataset.legal_basis,
                "location": row.dataset.location,
            },
            "version": row.number,
            "schema_fingerprint": row.schema_fingerprint,
            "content_fingerprint": row.content_fingerprint,
            "fingerprint_source": row.fingerprint_source,
            "row_count": row.row_count,
            "columns": flagged_columns(effective_columns(row, overlay.get(row.dataset_id, {}))),
        }
        for row in rows
    ]


def _feature_set_versions(model_version: Any) -> list[dict[str, Any]]:
    rows = (
        model_version.feature_set_versions.select_related("feature_view")
        .prefetch_related("dataset_versions")
        .order_by("feature_view_id", "number")
    )
    return [
        {
            "id": row.pk,
            "feature_view": {"id": row.feature_view.pk, "name": row.feature_view.name},
            "version": row.number,
            "fingerprint": row.fingerprint,
            "dataset_versions": sorted(dataset_version.pk for dataset_version in row.dataset_versions.all()),
        }
        for row in rows
    ]


def lineage_section(model_version: Any, closure: Closure | None = None) -> dict[str, Any]:
    """The model version's upstream closure (``closure`` when the caller computed it already) as the manifest
    carries it: nodes, runs (job, state, depth), edges (dataset, direction, version, registry link), whether it was
    truncated, and ``digest``, the SHA-256 of the rest (RFC 8785). docs/lineage.md, "The lineage gate"."""
    document = (closure if closure is not None else upstream_closure(model_version)).document()
    return {**document, "digest": canonical_digest(document)}


def build_manifest(release: Release, *, closure: Closure | None = None) -> dict[str, Any]:
    """The manifest of ``release`` from the database as it is now (the release need not be saved yet: its uid,
    nonce, request time, requester, environment and policy version are read from the object). ``closure``: the
    model version's lineage closure, when the caller (the gate) computed it now."""
    version = release.model_version
    model = version.model
    use_case = model.use_case
    policy_version = release.policy_version
    policy = policy_version.policy
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "release": str(release.uid),
        "environment": {"slug": release.environment.slug, "name": release.environment.name},
        "subject": {"name": subject_name(release), "sha256": version.artifact_sha256},
        "artifact": {"sha256": version.artifact_sha256, "size": version.artifact_size},
        "model": {
            "id": model.pk,
            "team": model.team.slug,
            "name": model.name,
            "owner": _username(model.owner),
            "description": model.description,
            "intended_use": model.intended_use,
            "limitations": model.limitations,
            "assumptions": model.assumptions,
            "upstream_dependencies": model.upstream_dependencies,
        },
        "model_version": {
            "id": version.pk,
            "number": version.number,
            "interface": version.interface,
            "training_params": version.training_params,
            "metrics": version.metrics,
            "authors": sorted(str(user.get_username()) for user in version.authors.all()),
            "registered_by": _username(version.created_by),
        },
        "use_case": None
        if use_case is None
        else {
            "id": use_case.pk,
            "name": use_case.name,
            "owner": _username(use_case.owner),
            "risk_tier": use_case.risk_tier,
            "decision_mode": use_case.decision_mode,
            "scope": use_case.scope,
            "limitations": use_case.limitations,
        },
        "datasets": _dataset_versions(version),
        "feature_sets": _feature_set_versions(version),
        "audit_reports": manifest_entries(version),
        "dpia": manifest_entry(use_case),
        "lineage": lineage_section(version, closure),
        "policy": {
            "id": policy.pk,
            "name": policy.name,
            "team": policy.team.slug if policy.team is not None else None,
            "board": policy.board.slug,
            "version": policy_version.number,
            "requirements": {
                "required_roles": policy_version.required_roles,
                "min_total": policy_version.min_total,
                "approval_valid_days": policy_version.approval_valid_days,
                "required_checks": policy_version.required_checks,
                # Only when set, so that the manifests of releases under policies without audits stay as signed.
                **(
                    {"audit_requirements": policy_version.audit_requirements}
                    if policy_version.audit_requirements
                    else {}
                ),
            },
        },
        "requester": _username(release.requested_by),
        "justification": release.justification,
        "nonce": release.nonce,
        "requested_at": format_time(release.requested_at),
    }
    # Only when the model was built from another team's data, so that other manifests stay as signed.
    grants = grants_section(version, format_time)
    if grants:
        manifest["grants"] = grants
    # Only when the model has one, so that the manifests signed before reason catalogues existed stay as signed.
    catalogue = reason_catalogue_entry(model)
    if catalogue is not None:
        manifest["reason_catalogue"] = catalogue
    # What a JSON column gives back unchanged on SQLite and PostgreSQL, so that the stored manifest and one rebuilt
    # from the database hash the same.
    stored: dict[str, Any] = to_stored_json(manifest)
    return stored


def manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 (hex) of the manifest's RFC 8785 canonical JSON: what reviewers sign."""
    return canonical_digest(manifest)


def current_digest(release: Release) -> str:
    return manifest_digest(build_manifest(release))


# --- What changed -------------------------------------------------------------------------------------------------


def _keyed(items: list[Any]) -> dict[Any, Any] | None:
    """A list of objects each with a distinct ``id``, keyed by it; else None (compared by position)."""
    if not items or not all(isinstance(item, dict) and "id" in item for item in items):
        return None
    keyed = {item["id"]: item for item in items}
    return keyed if len(keyed) == len(items) else None


def manifest_diff(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """Every difference between two manifests (or parts of one): ``{"path", "before", "after"}``, where ``path``
    reads ``datasets[id=3].dataset.classification``. A value added has ``before`` None, one removed ``after``
    None. Lists of objects with ids are matched by id, other lists by position."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[dict[str, Any]] = []
        for key in sorted(set(old) | set(new), key=str):
            where = f"{path}.{key}" if path else str(key)
            changes += manifest_diff(old.get(key), new.get(key), where)
        return changes
    if isinstance(old, list) and isinstance(new, list):
        old_keyed, new_keyed = _keyed(old), _keyed(new)
        if old_keyed is not None and new_keyed is not None:
            changes = []
            for key in sorted(set(old_keyed) | set(new_keyed), key=str):
                changes += manifest_diff(old_keyed.get(key), new_keyed.get(key), f"{path}[id={key}]")
            return changes
        if len(old) == len(new) and all(not isinstance(item, dict | list) for item in old + new):
            return [] if old == new else [{"path": path, "before": old, "after": new}]
        if len(old) == len(new):
            changes = []
            for index, (before, after) in enumerate(zip(old, new, strict=True)):
                changes += manifest_diff(before, after, f"{path}[{index}]")
            return changes
    if old == new:
        return []
    return [{"path": path, "before": old, "after": new}]


# --- Separation of duties -----------------------------------------------------------------------------------------


def _covered_targets(release: Release) -> list[tuple[str, list[str]]]:
    """(audit target type, ids) of every object whose change alters the manifest."""
    version = release.model_version
    model = version.model
    dataset_versions = list(version.dataset_versions.values_list("pk", "dataset_id"))
    feature_sets = list(version.feature_set_versions.values_list("pk", "feature_view_id"))
    targets = [
        ("registry.registeredmodel", [model.pk]),
        ("registry.modelversion", [version.pk]),
        ("registry.datasetversion", [pk for pk, _ in dataset_versions]),
        ("registry.dataset", sorted({dataset for _, dataset in dataset_versions})),
        ("registry.featuresetversion", [pk for pk, _ in feature_sets]),
        ("registry.featureview", sorted({view for _, view in feature_sets})),
    ]
    if model.use_case_id is not None:
        targets.append(("registry.usecase", [model.use_case_id]))
    catalogue = current_catalogue_id(model)
    if catalogue is not None:
        targets.append(("audits.reasoncatalogue", [catalogue]))
    return [(kind, [str(pk) for pk in ids]) for kind, ids in targets if ids]


def conflicted_users(release: Release) -> dict[int, str]:
    """Who may not approve ``release`` (separation of duties), each with the reason: the requester, the model
    version's authors and whoever registered it, and whoever last changed an object the manifest covers (the model,
    its use case, its reason catalogue in force, the dataset and feature-set versions and their datasets and views),
    as the audit log says.

    Conflicted people may still reject: a veto needs no independence. The policy and the board are not "covered"
    here: they are the rules the release is judged by, not its subject.
    """
    version = release.model_version
    reasons: dict[int, str] = {}

    def add(user_id: int | None, reason: str) -> None:
        if user_id is not None and user_id not in reasons:
            reasons[user_id] = reason

    add(release.requested_by_id, "requested this release")
    for user_id in version.authors.values_list("pk", flat=True):
        add(user_id, f"an author of {version}")
    add(version.created_by_id, f"registered {version}")
    condition = Q()
    for kind, ids in _covered_targets(release):
        condition |= Q(target_type=kind, target_id__in=ids)
    latest: dict[tuple[str, str], tuple[int | None, str, str]] = {}
    events = (
        AuditEvent.objects.filter(condition, event_type__in=CHANGE_EVENTS)
        .order_by("seq")
        .values_list("target_type", "target_id", "actor_id", "event_type", "target_repr")
    )
    for kind, target_id, actor_id, event_type, target_repr in events:
        latest[(kind, target_id)] = (actor_id, event_type, target_repr)
    for (kind, _), (actor_id, event_type, target_repr) in sorted(latest.items()):
        add(actor_id, f"last changed {kind.split('.')[-1]} {target_repr} ({event_type})")
    return reasons
