"""The kinds of audit, each registered once with what the rest of Assay needs to know of it (docs/audits.md).

A kind's module (audits.fairness, audits.proxy, audits.validation) registers a ``KindSpec`` from the app's
``ready``: the job kind that runs it, how its request parameters are checked against the model version and the
dataset version (``clean``: a ValidationError naming the field, or the cleaned parameters the job receives), its
default thresholds, and how a report's stored figures are judged against a set of thresholds (``judge``: a verdict
per named check). The job judges with the thresholds of its day and stores them; the gate judges the same figures
again with the release policy's thresholds (governance.audit_policy), so a policy made stricter after an audit
applies to it, and a justification recorded after it (a proxy's) counts.

Thresholds are named ``<figure>_min`` (a lower bound) or ``<figure>_max`` (an upper bound): which of two is the
stricter follows from the name (``strictest``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from audits.choices import AuditKind, Verdict

if TYPE_CHECKING:
    from audits.models import AuditReport
    from registry.models import DatasetVersion, ModelVersion

Cleaner = Callable[["ModelVersion", "DatasetVersion", dict[str, Any]], dict[str, Any]]
Judge = Callable[["AuditReport", Mapping[str, float]], dict[str, str]]


@dataclass(frozen=True)
class KindSpec:
    """What one audit kind is: ``job_kind`` (core.jobs) runs it; ``clean`` checks a request's parameters;
    ``thresholds`` are its defaults (per risk tier in ``by_risk_tier``, overriding some); ``bounds`` the range a
    release policy may set each threshold to; ``judge`` gives a verdict per check from a report and thresholds."""

    kind: AuditKind
    job_kind: str
    clean: Cleaner
    judge: Judge
    thresholds: dict[str, float]
    bounds: dict[str, tuple[float, float]]
    by_risk_tier: dict[str, dict[str, float]] = field(default_factory=dict)

    def default_thresholds(self, risk_tier: str | None) -> dict[str, float]:
        return {**self.thresholds, **self.by_risk_tier.get(risk_tier or "", {})}


_SPECS: dict[str, KindSpec] = {}


def register_kind(spec: KindSpec) -> KindSpec:
    for name in (*spec.thresholds, *spec.bounds):
        if not name.endswith(("_min", "_max")):
            raise ValueError(f"Threshold {name!r} of {spec.kind} must end in _min or _max.")
    if set(spec.thresholds) != set(spec.bounds):
        raise ValueError(f"{spec.kind}: every threshold needs bounds, and only thresholds have them.")
    _SPECS[spec.kind] = spec
    return spec


def spec(kind: str) -> KindSpec:
    """The registered kind; KeyError for one no module registered."""
    return _SPECS[kind]


def registered() -> list[KindSpec]:
    """Every registered kind, in AuditKind's order."""
    return [_SPECS[kind] for kind in AuditKind.values if kind in _SPECS]


def by_job_kind(job_kind: str) -> KindSpec | None:
    return next((s for s in _SPECS.values() if s.job_kind == job_kind), None)


def strictest(candidates: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Of several sets of thresholds, the strictest value of each name: the highest lower bound (``_min``), the
    lowest upper bound (``_max``)."""
    chosen: dict[str, float] = {}
    for thresholds in candidates:
        for name, value in thresholds.items():
            if name not in chosen:
                chosen[name] = float(value)
            elif name.endswith("_min"):
                chosen[name] = max(chosen[name], float(value))
            else:
                chosen[name] = min(chosen[name], float(value))
    return chosen


def overall(verdicts: Iterable[str]) -> str:
    """A report's verdict from its checks': any failure fails it; else any "insufficient data", or none at all, is
    insufficient data (never a pass); else it passes."""
    verdicts = list(verdicts)
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    if Verdict.INSUFFICIENT_DATA in verdicts or not verdicts:
        return Verdict.INSUFFICIENT_DATA
    return Verdict.PASS
