"""The gate check ``lineage_complete``: the model version's upstream closure is known, finished and registered.

It passes only when (docs/lineage.md, "The lineage gate"):

- the model version has a lineage node (``sha256:<artifact digest>`` in its team's Assay namespace, or the node
  linked to it) and the run that produced it (Assay's training job or an external run) COMPLETED, as did every
  other run of its closure, and the closure ends at raw sources within ``lineage.traversal.CLOSURE_DEPTH`` runs;
- every input of every run in the closure resolves to a registry object: a registered dataset version whose content
  fingerprint (or ``v<number>``) is the version the event named, or a feature-set version (itself produced by a run
  of the closure, so closed upstream) or a model version that is not retired;
- no column marked ``prohibited_input`` in such a dataset version reaches the model: the run reading it must report
  column lineage (``columnLineage``) deriving its outputs from other fields only (without column lineage from that
  dataset, its prohibited columns could be used, and the check fails); and each one's dataset resides in a region the
  target environment allows (``Environment.allowed_regions``; empty: anywhere; a dataset declaring no region fails
  a restricted environment: its residency cannot be vouched for).

The closure's runs and edges and their digest are also in the release manifest (governance.manifest), so a change
upstream after approval makes the approvals stale through ``manifest_current``. Each failure names the node and why.
"""

from __future__ import annotations

import re
from typing import Any

from governance.gate import GateContext, Verdict, register_check
from lineage.choices import RunState
from lineage.models import LineageDataset, RunEdge
from lineage.naming import model_version_name, version_number
from lineage.traversal import Closure, ClosureRun, node_key
from registry.choices import VersionStatus

CHECK_NAME = "lineage_complete"
MAX_LISTED = 12
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def _key(dataset: LineageDataset) -> str:
    return node_key("dataset", dataset.namespace.name, dataset.name)


def _run_label(item: ClosureRun) -> str:
    job = item.run.job
    return f"run {item.run.run_id} of job {node_key('job', job.namespace.name, job.name)}"


def _prohibited(schema: Any) -> list[str]:
    columns = schema.get("columns", []) if isinstance(schema, dict) else []
    return sorted(
        str(column.get("name")) for column in columns if isinstance(column, dict) and column.get("prohibited_input")
    )


def _version_problem(edge: RunEdge) -> str | None:
    """Why the registered dataset version an input edge resolved to is not the version the event named."""
    version = edge.dataset_version
    if version is None:
        named = f"version {edge.version!r}" if edge.version else "no version"
        return f"its dataset is registered, but the event names {named}, which is no registered version of it"
    dataset = edge.dataset.registry_dataset_id
    if dataset is not None and version.dataset_id != dataset:
        return f"resolved to a version of dataset {version.dataset_id}, not of the dataset it is linked to ({dataset})"
    if not edge.version:
        return f"the event names no version: it cannot be matched to v{version.number}'s fingerprint"
    if SHA256_HEX.match(edge.version):
        if edge.version != version.content_fingerprint:
            return (
                f"the fingerprint read ({edge.version[:12]}…) is not v{version.number}'s "
                f"({version.content_fingerprint[:12]}…)"
            )
        return None
    if version_number(edge.version) != version.number:
        return f"the version read ({edge.version!r}) is not v{version.number} nor its fingerprint"
    return None


def _prohibited_problem(edge: RunEdge, item: ClosureRun, prohibited: list[str], label: str) -> str | None:
    """Whether prohibited columns of the dataset ``edge`` read may reach the model: the run's column lineage says
    which fields it derived its outputs from; without column lineage from that dataset, any could."""
    used = item.fields_read(edge.dataset_id)
    if used is None:
        return (
            f"{label} holds prohibited column(s) {', '.join(prohibited)} and the run reading it reports no column "
            "lineage showing they are not used"
        )
    flowing = sorted(set(prohibited) & used)
    if flowing:
        return f"prohibited column(s) {', '.join(flowing)} of {label} flow into the run's outputs"
    return None


def _input_problems(edge: RunEdge, item: ClosureRun, closure_outputs: set[int], regions: list[str]) -> list[str]:
    dataset = edge.dataset
    if dataset.registry_dataset_id is not None:
        problem = _version_problem(edge)
        if problem is not None:
            return [problem]
        version = edge.dataset_version
        assert version is not None  # _version_problem said so
        problems = []
        prohibited = _prohibited(version.schema)
        if prohibited:
            problem = _prohibited_problem(edge, item, prohibited, f"{version.dataset.name} v{version.number}")
            if problem is not None:
                problems.append(problem)
        if regions:
            region = version.dataset.residency_region
            if not region:
                problems.append(
                    f"{version.dataset.name} declares no residency region; this environment allows only "
                    f"{', '.join(regions)}"
                )
            elif region not in regions:
                problems.append(
                    f"{version.dataset.name} resides in {region}; this environment allows only {', '.join(regions)}"
                )
        return problems
    if dataset.feature_set_version_id is not None:
        feature_set = dataset.feature_set_version
        assert feature_set is not None
        label = f"feature set {feature_set.feature_view.name} v{feature_set.number}"
        if edge.version and edge.version != feature_set.fingerprint and version_number(edge.version) is None:
            return [f"the version read ({edge.version[:12]}…) is not {label}'s fingerprint"]
        if dataset.pk not in closure_outputs:
            return [f"{label}: no COMPLETE run in the lineage produced it, so its own inputs are unknown"]
        return []
    if dataset.model_version_id is not None:
        model_version = dataset.model_version
        assert model_version is not None
        if model_version.status == VersionStatus.RETIRED:
            return [f"model {model_version.model.name} v{model_version.number} is retired"]
        return []
    return ["unregistered: it resolves to no registry dataset version, feature-set version or model version"]


def lineage_problems(closure: Closure, *, expected: str, regions: list[str]) -> list[str]:
    """Everything wrong with ``closure`` for a release to an environment allowing ``regions``, each naming the node
    or run. ``expected`` is the model version's node key, named when it has no lineage at all."""
    if not closure.nodes:
        return [f"{expected}: the model version has no lineage (no event names its artifact digest)"]
    if closure.producing_run is None:
        return [f"{_key(node)}: no run produced it" for node in closure.nodes]
    problems = []
    for item in closure.runs:
        if item.run.state != RunState.COMPLETE:
            what = "the run that produced the model version" if item.depth == 0 else "an upstream run"
            problems.append(f"{_run_label(item)}: {what} is {item.run.state}, not COMPLETE")
    if closure.truncated:
        problems.append(f"the lineage goes deeper than {closure.depth} runs: its raw sources were not reached")
    outputs = {edge.dataset_id for item in closure.runs if item.run.state == RunState.COMPLETE for edge in item.outputs}
    seen: set[str] = set()
    for item in closure.runs:
        for edge in item.inputs:
            version = f"@{edge.version[:16]}" if edge.version else ""
            for why in _input_problems(edge, item, outputs, regions):
                problem = f"{_key(edge.dataset)}{version}: {why}"
                if problem not in seen:  # the same input read by several runs is named once
                    seen.add(problem)
                    problems.append(problem)
    return problems


@register_check(
    CHECK_NAME,
    "The model version's producing run completed and every input upstream of it is a registered dataset version "
    "with a matching fingerprint (or a feature-set version), without prohibited columns, in a region the "
    "environment allows.",
)
def check_lineage_complete(context: GateContext) -> Verdict:
    release = context.release
    version = release.model_version
    closure = context.lineage_closure  # the one the manifest was built from
    named = model_version_name(version)
    problems = lineage_problems(
        closure,
        expected=node_key("dataset", named.namespace, named.name),
        regions=list(release.environment.allowed_regions or []),
    )
    if problems:
        listed = "; ".join(problems[:MAX_LISTED])
        more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        return False, f"Lineage incomplete: {listed}{more}."
    inputs = len({(edge.dataset_id, edge.version) for edge in closure.input_edges()})
    digest = context.manifest.get("lineage", {}).get("digest", "")
    return True, (
        f"Lineage complete: {len(closure.runs)} COMPLETE run(s), {inputs} registered input(s), "
        f"lineage digest {str(digest)[:12]}…."
    )
