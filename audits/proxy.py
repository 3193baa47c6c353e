"""The proxy audit kind: its request parameters, thresholds and judgement (audits.kinds; the figures are computed
by audits.pipelines.proxy in the job workers.audits_proxy runs). docs/audits.md, "Proxy detection".

The features are the dataset columns the model reads; the attributes, by default, every column the dataset
version's schema flags ``protected_attribute`` or ``prohibited_input``. A model input that is itself one of the
attributes is not refused: the audit runs and flags that pair as a direct use (a prohibited input never reaches
here, registration refuses it; a directly used protected attribute fails the audit until a compliance officer
justifies it). A flagged pair stops failing the check once a compliance officer records a justification
(audits.models.ProxyJustification); the gate judges again, so a justification recorded after the audit counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from audits import params as p
from audits.choices import AuditKind
from audits.kinds import KindSpec, register_kind
from audits.pipelines.proxy import Thresholds, verdict

if TYPE_CHECKING:
    from audits.models import AuditReport
    from registry.models import DatasetVersion, ModelVersion

JOB_KIND = "audits.proxy"
DEFAULTS = {"bins": 10, "max_categories": 20, "seed": 0}
FLAGS = ("protected_attribute", "prohibited_input")
THRESHOLDS = {"association_max": 0.3, "nmi_max": 0.1, "auc_max": 0.7}
BOUNDS = {"association_max": (0.0, 1.0), "nmi_max": (0.0, 1.0), "auc_max": (0.5, 1.0)}
HIGH_RISK = {"association_max": 0.2, "nmi_max": 0.05, "auc_max": 0.65}
CHECK = "proxies"


def flagged_columns(dataset_version: DatasetVersion) -> list[str]:
    """The columns the dataset version's schema flags protected or prohibited: the attributes by default."""
    return [c["name"] for c in dataset_version.schema["columns"] if any(c.get(flag) for flag in FLAGS)]


def clean(model_version: ModelVersion, dataset_version: DatasetVersion, raw: dict[str, Any]) -> dict[str, Any]:
    """The audit's parameters, checked against the dataset's schema and the model's interface."""
    columns = p.columns_of(dataset_version)
    attributes = raw.get("attributes")
    if attributes is None:
        attributes = flagged_columns(dataset_version)
        if not attributes:
            raise ValidationError(
                {
                    "attributes": f"{dataset_version} flags no column as a protected attribute or a prohibited "
                    "input: name the attributes to look for proxies of."
                }
            )
    if not isinstance(attributes, list) or not attributes or len(set(attributes)) != len(attributes):
        raise ValidationError({"attributes": "A non-empty list of distinct column names."})
    names = [p.column(columns, name, "attributes", dataset_version)["name"] for name in attributes]
    features = p.model_columns(model_version, dataset_version)
    sample_rows = raw.get("sample_rows")
    return {
        "features": features,
        "attributes": names,
        "bins": p.integer(raw.get("bins", DEFAULTS["bins"]), "bins", 2, 100),
        "max_categories": p.integer(raw.get("max_categories", DEFAULTS["max_categories"]), "max_categories", 2, 1000),
        "sample_rows": None if sample_rows is None else p.integer(sample_rows, "sample_rows", 1000, 10**9),
        "seed": p.integer(raw.get("seed", DEFAULTS["seed"]), "seed", 0, 2**31 - 1),
    }


def judge(report: AuditReport, thresholds: Mapping[str, float]) -> dict[str, str]:
    """The "proxies" check from the report's figures under ``thresholds``, the pairs compliance officers justified
    counting as passing."""
    justified = set(report.justifications.values_list("feature", "attribute")) if report.pk else set()
    limits = Thresholds.of({**THRESHOLDS, **thresholds})
    return {CHECK: verdict(report.results or {}, limits, justified)}


SPEC = register_kind(
    KindSpec(
        kind=AuditKind.PROXY,
        job_kind=JOB_KIND,
        clean=clean,
        judge=judge,
        thresholds=THRESHOLDS,
        bounds=BOUNDS,
        by_risk_tier={"high": HIGH_RISK},
    )
)
