"""The gate check ``dpia_approved``: a release whose datasets hold personal or special-category data needs its use
case's DPIA approved, unexpired, and covering those datasets.

It judges the DPIA version the manifest names (the use case's newest, compliance.dpia.manifest_entry), so what the
reviewers signed is what is judged: a new version after approval changes the manifest (the approvals go stale) and
must itself be approved before the release goes out. Personal data is read from the manifest's columns, which carry
the reclassifications (compliance.dpia.effective_columns).
"""

from __future__ import annotations

from typing import Any

from compliance.dpia import is_expired
from compliance.dpia_rules import DpiaStatus
from compliance.models import DpiaVersion
from governance.gate import GateContext, Verdict, register_check


def personal_datasets(manifest: dict[str, Any]) -> dict[int, str]:
    """dataset id -> name, of the manifest's datasets with a personal or special-category column."""
    found: dict[int, str] = {}
    for entry in manifest.get("datasets") or []:
        columns = entry.get("columns") or {}
        if columns.get("personal_data") or columns.get("special_category"):
            dataset = entry.get("dataset") or {}
            found[int(dataset.get("id", 0))] = str(dataset.get("name"))
    return found


@register_check(
    "dpia_approved",
    "When a dataset of the release holds personal or special-category data, the use case's DPIA is approved, "
    "unexpired and covers those datasets.",
)
def check_dpia_approved(context: GateContext) -> Verdict:
    manifest = context.manifest
    personal = personal_datasets(manifest)
    if not personal:
        return True, "No dataset of the release holds personal or special-category data: no DPIA is needed."
    names = ", ".join(sorted(personal.values()))
    use_case = (manifest.get("use_case") or {}).get("name", "the use case")
    entry = manifest.get("dpia")
    if not entry:
        return False, f"No DPIA exists for use case {use_case}; dataset(s) {names} hold personal data."
    version = DpiaVersion.objects.filter(pk=entry.get("version_id")).first()
    if version is None:
        return False, f"The DPIA version the manifest names ({entry.get('version_id')}) no longer exists."
    problems = []
    if version.status != DpiaStatus.APPROVED:
        problems.append(f"DPIA version {version.number} of use case {use_case} is {version.status}, not approved")
    elif is_expired(version, context.now.date()):
        problems.append(f"DPIA version {version.number} expired on its review date {version.review_date}")
    covered = {int(item["id"]) for item in version.datasets}
    for dataset_id, name in sorted(personal.items(), key=lambda item: item[1]):
        if dataset_id not in covered:
            problems.append(f"dataset {name} holds personal data but DPIA version {version.number} does not cover it")
    if problems:
        text = "; ".join(problems)
        return False, text[0].upper() + text[1:] + "."
    return True, (
        f"DPIA version {version.number} of use case {use_case} is approved until {version.review_date} and covers "
        f"{names} (digest {version.digest[:12]}…)."
    )
