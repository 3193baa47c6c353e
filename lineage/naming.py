"""How registry objects are named in OpenLineage, both ways: what Assay's jobs emit, and what an event must say for
one of its datasets to resolve to a registry object (docs/lineage.md, "Naming conventions").

- A registry **dataset** is the node named by its ``location``, split the way OpenLineage names datasets: the
  scheme and authority are the namespace, the path the name (``s3://bank-data/loans/2024`` is namespace
  ``s3://bank-data``, name ``loans/2024``); Assay's lake (``lake://churn/events``) is namespace ``lake``, name
  ``churn/events``. A trailing slash is not part of the name. Which **version** a run read or wrote is the dataset
  ``version`` facet's ``datasetVersion``: the version's content fingerprint (what Assay emits), or ``v<number>``.
- A **feature-set version** is the node ``feature-sets/<view name>/v<number>`` in its team's Assay namespace
  (``assay://<team slug>``), with its fingerprint as the version.
- A **model version** is the node ``sha256:<artifact digest>`` in its team's Assay namespace: the artifact the
  board signs is named by its digest, so an external training pipeline that knows the digest can name it too.
- An **audit report** is the node ``audit-reports/<kind>/<report id>`` in its team's Assay namespace, with the
  report's digest as the version: what an audit job (``audits.fairness``, ...) writes, from the model version's node
  and the evaluation dataset version it read.
- Assay's own **jobs** are ``<job kind>`` (``features.materialize``) in the team's Assay namespace; a run's id is
  derived from the job record and its attempt (lineage.emit).

Every function here is pure: no ORM query beyond the attributes of the objects it is given.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registry.models import Dataset, DatasetVersion, FeatureSetVersion, ModelVersion

ASSAY_SCHEME = "assay"
LAKE_NAMESPACE = "lake"
MODEL_PREFIX = "sha256:"
FEATURE_SET_PREFIX = "feature-sets/"
AUDIT_REPORT_PREFIX = "audit-reports/"
VERSION_NUMBER = re.compile(r"^v([1-9][0-9]{0,8})$")
SHA256_NAME = re.compile(r"^sha256:([0-9a-f]{64})$")


@dataclass(frozen=True)
class DatasetName:
    """A dataset as OpenLineage names it, and the version an event carries for it ("" when none)."""

    namespace: str
    name: str
    version: str = ""


def team_namespace(team_slug: str) -> str:
    """The namespace of a team's Assay objects and jobs: ``assay://credit-risk``."""
    return f"{ASSAY_SCHEME}://{team_slug}"


def split_location(location: str) -> tuple[str, str]:
    """(namespace, name) of a dataset location URI (see the module docstring)."""
    parsed = urllib.parse.urlsplit(location)
    scheme = parsed.scheme.lower()
    if scheme == LAKE_NAMESPACE:
        relative = location[len(f"{LAKE_NAMESPACE}://") :]
        return LAKE_NAMESPACE, relative.strip("/")
    namespace = f"{scheme}://{parsed.netloc}" if parsed.netloc else scheme
    return namespace, parsed.path.strip("/")


def dataset_name(dataset: Dataset) -> DatasetName:
    namespace, name = split_location(dataset.location)
    return DatasetName(namespace, name)


def dataset_version_name(version: DatasetVersion) -> DatasetName:
    namespace, name = split_location(version.dataset.location)
    return DatasetName(namespace, name, version.content_fingerprint)


def feature_set_version_name(version: FeatureSetVersion) -> DatasetName:
    view = version.feature_view
    return DatasetName(
        team_namespace(view.team.slug), f"{FEATURE_SET_PREFIX}{view.name}/v{version.number}", version.fingerprint
    )


def model_version_name(version: ModelVersion) -> DatasetName:
    return DatasetName(team_namespace(version.model.team.slug), f"{MODEL_PREFIX}{version.artifact_sha256}")


def audit_report_name(team_slug: str, kind: str, report_id: int, digest: str) -> DatasetName:
    """The node of an audit report (the audits app is above this one: its fields are passed as values)."""
    return DatasetName(team_namespace(team_slug), f"{AUDIT_REPORT_PREFIX}{kind}/{report_id}", digest)


def version_number(version: str) -> int | None:
    """The number of a ``v<number>`` version string, else None."""
    match = VERSION_NUMBER.match(version)
    return int(match.group(1)) if match else None


def artifact_digest(name: str) -> str | None:
    """The digest of a model-version node's name (``sha256:<hex>``), else None."""
    match = SHA256_NAME.match(name)
    return match.group(1) if match else None
