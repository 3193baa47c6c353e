"""The data access grants a release relies on (docs/grants.md): its manifest's ``grants`` section.

A release of team T relies on a grant for every dataset of another team that its model version was trained or
evaluated on or its feature sets were built from. The manifest lists, for each such dataset, the grant chosen by
compliance.grants.relied_on (its id, the dataset and its owning team, the expiry and the status); a dataset that no
grant was ever asked for is listed with a null grant. The choice does not read the clock, so an expiry does not
change the manifest (the approvals stay current) but fails the gate's ``data_access`` check; a revocation or a
withdrawal changes the status listed, so it changes the manifest and the approvals go stale.
"""

from __future__ import annotations

from typing import Any

from compliance.grants import relied_on
from registry.models import Dataset, DatasetVersion, ModelVersion


def foreign_datasets(model_version: ModelVersion) -> list[Dataset]:
    """The other teams' datasets ``model_version`` was built from (its own dataset versions, and those of its
    feature-set versions), by id."""
    team_id = model_version.model.team_id
    rows = DatasetVersion.objects.filter(
        pk__in=model_version.dataset_versions.values("pk")
    ) | DatasetVersion.objects.filter(feature_set_versions__in=model_version.feature_set_versions.values("pk"))
    found = {
        row.dataset_id: row.dataset for row in rows.exclude(dataset__team_id=team_id).select_related("dataset__team")
    }
    return [found[key] for key in sorted(found)]


def grants_section(model_version: ModelVersion, format_time: Any) -> list[dict[str, Any]]:
    """The manifest's ``grants``: one entry per foreign dataset, in dataset id order."""
    datasets = foreign_datasets(model_version)
    if not datasets:
        return []
    chosen = relied_on(model_version.model.team_id, [dataset.pk for dataset in datasets])
    entries = []
    for dataset in datasets:
        grant = chosen.get(dataset.pk)
        entries.append(
            {
                "id": None if grant is None else grant.pk,
                "dataset": {"id": dataset.pk, "name": dataset.name, "team": dataset.team.slug},
                "expires_at": None if grant is None else format_time(grant.expires_at),
                "status": None if grant is None else grant.status,
            }
        )
    return entries
