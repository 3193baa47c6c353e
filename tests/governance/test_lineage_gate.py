"""The gate check ``lineage_complete`` (governance.checks.lineage) and the lineage in the release manifest: a model
version deploys only when its producing run completed and everything upstream is registered, clean and resident
where the environment allows; a change upstream after approval makes the approvals stale."""

from __future__ import annotations

from typing import Any

import pytest

from governance import actions
from governance.actions.policies import known_checks
from governance.checks.lineage import CHECK_NAME
from governance.choices import EvaluationPurpose
from governance.gate import evaluate_gate
from governance.manifest import build_manifest
from lineage.choices import RunState
from lineage.models import LineageDataset, LineageRun, RunEdge
from lineage.naming import team_namespace
from registry import actions as registry_actions
from registry.models import DatasetVersion
from serving.actions import GateRefused, do_deploy
from tests.governance.factories import make_policy
from tests.lineage.graphs import GraphBuilder
from tests.registry.factories import SCHEMA, make_dataset, make_dataset_version, make_events_dataset, make_feature_view
from tests.serving.factories import approve

pytestmark = pytest.mark.django_db


def verdict(evaluation: Any, name: str = CHECK_NAME) -> tuple[bool, str]:
    check = next(check for check in evaluation.checks if check["name"] == name)
    return check["passed"], check["reason"]


class Lineage:
    """The lineage of the world's model version as an external training pipeline reports it: one training run
    reading the registered dataset version it was trained on and writing the model's ``sha256:`` node."""

    def __init__(self, rw: Any) -> None:
        self.rw = rw
        self.graph = GraphBuilder(team=rw.cast.team_a)
        self.version = rw.version
        self.dataset_version: DatasetVersion = rw.version.dataset_versions.get()
        self.model_node = self.graph.dataset(
            (team_namespace(rw.cast.team_a.slug), f"sha256:{self.version.artifact_sha256}")
        )
        self.input = self.registered(self.dataset_version)

    def registered(self, version: DatasetVersion) -> LineageDataset:
        return self.graph.dataset(("s3://lake", "customers"), registry_dataset=version.dataset)

    def read(self, run: LineageRun, version: DatasetVersion, node: LineageDataset | None = None) -> None:
        """Resolve ``run``'s input edge of ``node`` to the registered ``version`` (what lineage.links does)."""
        RunEdge.objects.filter(run=run, dataset=node or self.input).update(dataset_version=version)

    def train(self, *extra_inputs: Any, state: str = RunState.COMPLETE, version: str | None = None) -> LineageRun:
        fingerprint = self.dataset_version.content_fingerprint if version is None else version
        run = self.graph.run(
            "credit.train",
            inputs=[self.input, *extra_inputs],
            outputs=[self.model_node],
            state=state,
            versions={"customers": fingerprint},
        )
        self.read(run, self.dataset_version)
        return run


def require_lineage(rw: Any, environment: Any = None) -> Any:
    """A policy version requiring ``lineage_complete`` and the release requested again under it, approved."""
    actions.do_add_policy_version(
        rw.policy,
        actor=rw.cast.compliance,
        required_roles={"legal": 1, "technical": 1},
        min_total=2,
        approval_valid_days=30,
        required_checks=[CHECK_NAME],
    )
    actions.do_withdraw_release(rw.release, actor=rw.cast.engineer_a, reason="Lineage now required")
    release = actions.do_request_release(
        rw.version, actor=rw.cast.engineer_a, environment=environment or rw.environment
    )
    approve(rw, release)
    return release


def gate(rw: Any, release: Any) -> Any:
    return evaluate_gate(release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.PREVIEW)


def test_the_check_is_registered_and_known_to_the_policy_validator() -> None:
    assert CHECK_NAME in known_checks()


def test_a_complete_registered_lineage_passes(rw: Any) -> None:
    # GIVEN the training run completed, reading the registered version by its fingerprint
    lineage = Lineage(rw)
    run = lineage.train()
    # WHEN the release is requested under a policy requiring the check, approved, and the gate runs
    release = require_lineage(rw)
    evaluation = gate(rw, release)
    # THEN it passes, and the manifest carries the closure and its digest
    passed, why = verdict(evaluation)
    assert passed, why
    assert evaluation.passed
    assert why.startswith("Lineage complete: 1 COMPLETE run(s), 1 registered input(s)")
    lineage_section = release.manifest["lineage"]
    assert [item["run_id"] for item in lineage_section["runs"]] == [str(run.run_id)]
    # the model's node is not linked here (lineage.links would link it): only the input resolves
    assert {edge["registry"] for edge in lineage_section["edges"]} == {
        f"dataset-version:{lineage.dataset_version.pk}",
        None,
    }
    assert why.endswith(f"lineage digest {lineage_section['digest'][:12]}….")


def test_a_release_with_an_unregistered_upstream_input_is_refused_at_deploy_naming_the_node(rw: Any) -> None:
    # GIVEN the training run also read a table nobody registered
    lineage = Lineage(rw)
    lineage.train(("s3://lake", "scratch/side-table"))
    release = require_lineage(rw)
    # WHEN the engineer deploys THEN the gate refuses, naming the node and why
    with pytest.raises(GateRefused, match="lineage_complete failed") as refused:
        do_deploy(release, actor=rw.cast.engineer_a)
    (failed,) = refused.value.failed
    assert failed["name"] == CHECK_NAME
    assert "dataset:s3://lake:scratch/side-table: unregistered" in failed["reason"]


def test_a_model_version_without_lineage_fails_naming_the_node_expected(rw: Any) -> None:
    release = require_lineage(rw)
    passed, why = verdict(gate(rw, release))
    assert not passed
    assert f"dataset:assay://team-a:sha256:{rw.version.artifact_sha256}: the model version has no lineage" in why


def test_a_failed_producing_run_fails(rw: Any) -> None:
    lineage = Lineage(rw)
    run = lineage.train(state=RunState.FAIL)
    passed, why = verdict(gate(rw, require_lineage(rw)))
    assert not passed
    assert f"run {run.run_id} of job job:s3://lake:credit.train: the run that produced the model version is FAIL" in why


def test_a_failed_upstream_run_and_an_unregistered_intermediate_fail(rw: Any) -> None:
    # GIVEN the training data was prepared by a run that failed, from a raw table
    lineage = Lineage(rw)
    staged = lineage.graph.dataset("staged")
    prepare = lineage.graph.run("prepare", inputs=["raw"], outputs=[staged], state=RunState.FAIL)
    lineage.train(staged)
    passed, why = verdict(gate(rw, require_lineage(rw)))
    assert not passed
    assert f"run {prepare.run_id} of job job:s3://lake:prepare: an upstream run is FAIL, not COMPLETE" in why
    assert "dataset:s3://lake:staged: unregistered" in why
    assert "dataset:s3://lake:raw: unregistered" in why


def test_a_fingerprint_that_is_not_the_registered_one_fails(rw: Any) -> None:
    lineage = Lineage(rw)
    lineage.train(version="0" * 64)
    passed, why = verdict(gate(rw, require_lineage(rw)))
    assert not passed
    assert "dataset:s3://lake:customers@0000000000000000: the fingerprint read (000000000000…) is not v1's" in why


def test_a_version_number_counts_as_the_version_and_no_version_fails(rw: Any) -> None:
    lineage = Lineage(rw)
    lineage.train(version="v1")
    assert verdict(gate(rw, require_lineage(rw)))[0]
    other = Lineage(rw)
    other.graph.clock = lineage.graph.clock
    other.train(version="")
    release = rw.version.releases.order_by("-pk").first()
    passed, why = verdict(gate(rw, release))
    assert not passed
    assert "dataset:s3://lake:customers: the event names no version" in why


def test_a_prohibited_column_upstream_fails(rw: Any) -> None:
    # GIVEN the training run read a registered dataset whose schema marks a column prohibited
    lineage = Lineage(rw)
    ethnicity = {"name": "ethnicity", "type": "string", "nullable": True, "prohibited_input": True}
    schema = {"columns": [*SCHEMA["columns"], ethnicity]}
    bureau = make_dataset(rw.cast.team_a, rw.cast.engineer_a, name="Bureau", location="s3://lake/bureau/")
    bureau_version = make_dataset_version(bureau, rw.cast.engineer_a, schema=schema)
    node = lineage.graph.dataset("bureau", registry_dataset=bureau)
    run = lineage.train(node)
    RunEdge.objects.filter(run=run, dataset=node).update(version="v1", dataset_version=bureau_version)
    release = require_lineage(rw)
    # WHEN the run reports no column lineage THEN the prohibited column could reach the model: it fails
    passed, why = verdict(gate(rw, release))
    assert not passed
    assert (
        "dataset:s3://lake:bureau@v1: Bureau v1 holds prohibited column(s) ethnicity and the run reading it reports "
        "no column lineage showing they are not used"
    ) in why
    # WHEN its column lineage derives the model from other columns only THEN it passes
    lineage.graph.column(node, "income", lineage.model_node, "income", run=run)
    assert verdict(gate(rw, release))[0]
    # WHEN the prohibited column flows into the model THEN it fails, naming the column
    lineage.graph.column(node, "ethnicity", lineage.model_node, "segment", run=run)
    passed, why = verdict(gate(rw, release))
    assert not passed
    assert "dataset:s3://lake:bureau@v1: prohibited column(s) ethnicity of Bureau v1 flow into the run's outputs" in why


def test_data_outside_the_environments_regions_fails(rw: Any) -> None:
    # GIVEN an environment that only takes data resident in us-east-1, and training data resident in eu-west-1
    us = actions.do_create_environment(
        actor=rw.cast.superuser, slug="us-prod", name="US production", rank=20, allowed_regions=["us-east-1"]
    )
    make_policy(rw.cast.compliance, rw.cast.team_a, us, rw.board, required_checks=[CHECK_NAME])
    Lineage(rw).train()
    release = actions.do_request_release(rw.version, actor=rw.cast.engineer_a, environment=us)
    approve(rw, release)
    passed, why = verdict(gate(rw, release))
    assert not passed
    assert "Loan applications resides in eu-west-1; this environment allows only us-east-1" in why
    # AND the same lineage passes the environment that allows anywhere
    assert verdict(gate(rw, require_lineage(rw)))[0]


def test_a_change_upstream_after_approval_makes_the_approvals_stale(rw: Any) -> None:
    # GIVEN an approved release whose lineage passed
    lineage = Lineage(rw)
    lineage.train()
    release = require_lineage(rw)
    assert gate(rw, release).passed
    signed = release.manifest["lineage"]["digest"]
    # WHEN a producer reports, after the approval, the run that wrote the version the model was trained on
    lineage.graph.run(
        "ingest", outputs=[lineage.input], versions={"customers": lineage.dataset_version.content_fingerprint}
    )
    # THEN the manifest's lineage changed, and the gate says the approvals no longer cover it
    assert build_manifest(release)["lineage"]["digest"] != signed
    evaluation = gate(rw, release)
    assert not evaluation.passed
    passed, why = verdict(evaluation, "manifest_current")
    assert not passed
    assert "lineage." in why
    assert verdict(evaluation)[0]  # the lineage itself is still complete: only the signatures are stale


def test_a_feature_set_version_input_counts_when_its_materialization_is_in_the_lineage(rw: Any) -> None:
    # GIVEN a model trained on a registered feature-set version, materialized from a registered events version
    lineage = Lineage(rw)
    events, events_version = make_events_dataset(rw.cast.team_a, rw.cast.engineer_a, location="s3://lake/events/")
    view = make_feature_view(rw.cast.team_a, rw.cast.engineer_a, events)
    feature_set = registry_actions.do_register_feature_set_version(
        view, actor=rw.cast.engineer_a, dataset_versions=[events_version.pk]
    )
    features = lineage.graph.dataset(
        (team_namespace(rw.cast.team_a.slug), f"feature-sets/{view.name}/v1"), feature_set_version=feature_set
    )
    train = lineage.train(features)
    RunEdge.objects.filter(run=train, dataset=features).update(version=feature_set.fingerprint)
    release = require_lineage(rw)
    # WHEN no run in the lineage produced the feature set THEN its own inputs are unknown: it fails
    passed, why = verdict(gate(rw, release))
    assert not passed
    assert f"feature set {view.name} v1: no COMPLETE run in the lineage produced it" in why
    # WHEN the materialization run that read the registered events version is reported THEN it passes
    events_node = lineage.graph.dataset("events", registry_dataset=events)
    materialize = lineage.graph.run(
        "features.materialize",
        inputs=[events_node],
        outputs=[features],
        versions={"events": events_version.content_fingerprint},
    )
    RunEdge.objects.filter(run=materialize, dataset=features).update(version=feature_set.fingerprint)
    lineage.read(materialize, events_version, events_node)
    passed, why = verdict(gate(rw, release))
    assert passed, why
    assert why.startswith("Lineage complete: 2 COMPLETE run(s), 3 registered input(s)")
