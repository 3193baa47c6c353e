"""A proxy report registered through the audits' action as the job would, for the API, justification and page
tests: ``income`` flagged as a proxy of ``sex`` (Cramér's V 0.45), ``debt`` not."""

from __future__ import annotations

from typing import Any

from audits.actions import do_register_audit_report
from audits.choices import AuditKind
from audits.proxy import THRESHOLDS
from core.jobs import dispatch_job


def pair(feature: str, attribute: str, association: float, *, direct: bool = False) -> dict[str, Any]:
    flagged = association > THRESHOLDS["association_max"] or direct
    return {
        "feature": feature,
        "attribute": attribute,
        "feature_type": "numeric",
        "attribute_type": "categorical",
        "measure": "cramers_v",
        "direct": direct,
        "association": association,
        "nmi": association / 5,
        "auc": 0.5 + association / 2 if association < 0.4 else 0.69,
        "spearman": association,
        "bins": 10,
        "missing_attribute": 0,
        "flagged": flagged,
        "reasons": [f"Cramér's V {association:.3f} > 0.3"] if flagged else [],
    }


def proxy_results(pairs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    pairs = pairs if pairs is not None else [pair("income", "sex", 0.45), pair("debt", "sex", 0.02)]
    flagged = [{"feature": p["feature"], "attribute": p["attribute"]} for p in pairs if p["flagged"]]
    verdict = "fail" if flagged else "pass"
    return {
        "rows": 4000,
        "sample_rows": 4000,
        "features": sorted({p["feature"] for p in pairs}),
        "attributes": sorted({p["attribute"] for p in pairs}),
        "attribute_details": [{"name": "sex", "type": "categorical", "groups": {"f": 2000, "m": 2000}, "missing": 0,
                               "sufficient": True}],
        "pairs": pairs,
        "flagged": flagged,
        "thresholds": dict(THRESHOLDS),
        "checks": {"proxies": verdict},
        "verdict": verdict,
    }  # fmt: skip


def make_proxy_report(model_version: Any, dataset_version: Any, actor: Any, results: Any = None) -> Any:
    results = results or proxy_results()
    job, _ = dispatch_job(
        "audits.proxy",
        actor=actor,
        team=model_version.model.team,
        target=model_version,
        params={"dataset_version": dataset_version.pk},
    )
    return do_register_audit_report(
        job,
        actor=actor,
        kind=AuditKind.PROXY,
        model_version=model_version,
        dataset_version=dataset_version,
        parameters={
            "dataset_version": dataset_version.pk,
            "features": ["income", "debt"],
            "attributes": ["sex"],
            "bins": 10,
            "max_categories": 20,
            "sample_rows": None,
            "seed": 0,
        },
        thresholds=dict(THRESHOLDS),
        code={"assay_audits": "1"},
        results=results,
        checks=results["checks"],
        verdict=results["verdict"],
    )
