"""The gate check ``data_access``: every grant a release relies on for another team's dataset (the manifest's
``grants``, governance.grants) still covers use: approved and unexpired, now. It runs for every release whose
manifest lists grants, whatever the policy says (docs/grants.md)."""

from __future__ import annotations

from typing import Any

from compliance.choices import GrantStatus
from compliance.models import DataAccessGrant
from governance.gate import GateContext, Verdict, register_check


def relies_on_grants(manifest: dict[str, Any]) -> bool:
    return bool(manifest.get("grants"))


@register_check(
    "data_access",
    "Every data access grant the release relies on for another team's dataset is approved and unexpired.",
    applies=relies_on_grants,
)
def check_data_access(context: GateContext) -> Verdict:
    entries = context.manifest.get("grants") or []
    if not entries:
        return True, "The release uses no other team's dataset: it relies on no data access grant."
    ids = [entry["id"] for entry in entries if entry.get("id") is not None]
    grants = {grant.pk: grant for grant in DataAccessGrant.objects.filter(pk__in=ids)}
    problems, covered = [], []
    for entry in entries:
        dataset = entry.get("dataset") or {}
        name = f"dataset {dataset.get('name')} of team {dataset.get('team')}"
        grant = grants.get(entry.get("id"))
        if grant is None:
            problems.append(f"no data access grant covers {name}")
        elif grant.status != GrantStatus.APPROVED:
            problems.append(f"grant #{grant.pk} for {name} is {grant.get_status_display().lower()}")
        elif grant.expires_at <= context.now:
            problems.append(f"grant #{grant.pk} for {name} expired at {grant.expires_at.isoformat()}")
        else:
            covered.append(f"grant #{grant.pk} covers {name} until {grant.expires_at.isoformat()}")
    if problems:
        text = "; ".join(problems)
        return False, text[0].upper() + text[1:] + "."
    text = "; ".join(covered)
    return True, text[0].upper() + text[1:] + "."
