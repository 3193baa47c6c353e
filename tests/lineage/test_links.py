"""Links from lineage nodes to registry objects (lineage.links, lineage.actions.do_relink): by the naming
conventions of lineage.naming, within the namespace's team, whatever the order things arrived in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from core.choices import AuditEventType
from core.models import AuditEvent
from lineage import links, naming
from lineage.actions import do_ingest_events
from lineage.actions.links import do_relink
from lineage.models import LineageDataset, RunEdge
from registry import actions as registry_actions
from tests.governance.factories import write_onnx
from tests.lineage import events as ol
from tests.lineage import view_graph as g
from tests.registry.factories import (
    fingerprint,
    make_dataset,
    make_dataset_version,
    make_events_dataset,
    make_feature_view,
    make_model,
    make_model_version,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def artifact_root(settings: Any, tmp_path: Path) -> Path:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    return settings.ARTIFACT_ROOT


def refreshed(node: LineageDataset) -> LineageDataset:
    return LineageDataset.objects.select_related("namespace").get(pk=node.pk)


def test_a_dataset_node_links_to_the_registry_dataset_at_its_location(cast: Any) -> None:
    # GIVEN team A's dataset at s3://lake/customers/ and a node s3://lake + customers in team A's namespace
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    node = g.dataset(g.namespace("s3://lake", cast.team_a), "customers")
    # WHEN the fold resolves the new node
    linked = links.resolve_new([node])
    # THEN it is linked to that dataset
    assert linked == links.Linked(datasets=1, edges=0)
    assert refreshed(node).registry_dataset == dataset


def test_a_node_never_links_across_teams(cast: Any) -> None:
    # GIVEN team A's dataset at s3://lake/customers/, and the same name in a namespace team B claimed
    make_dataset(cast.team_a, cast.engineer_a)
    node = g.dataset(g.namespace("s3://lake", cast.team_b), "customers")
    # WHEN it is resolved THEN it stays unregistered
    assert links.resolve_new([node]) == links.Linked()
    assert refreshed(node).registry_dataset is None


def test_an_unclaimed_namespace_links_only_when_one_team_registered_the_location(cast: Any) -> None:
    # GIVEN a node in a namespace nobody claimed (only read from) and team A's dataset at its location
    make_dataset(cast.team_a, cast.engineer_a)
    node = g.dataset(g.namespace("s3://lake"), "customers")
    assert links.lookup([refreshed(node)])[node.pk].registry_dataset is not None
    # WHEN team B registers a dataset at the same location THEN whose data it is cannot be told: no link
    make_dataset(cast.team_b, cast.engineer_b)
    assert links.lookup([refreshed(node)]) == {}


def test_a_lake_location_and_a_trailing_slash_name_the_same_node(cast: Any) -> None:
    dataset = make_dataset(cast.team_a, cast.engineer_a, location="lake://churn/events/")
    assert naming.split_location(dataset.location) == ("lake", "churn/events")
    node = g.dataset(g.namespace("lake", cast.team_a), "churn/events")
    assert links.lookup([refreshed(node)])[node.pk].registry_dataset == dataset


def test_a_feature_set_version_links_by_view_name_and_number(cast: Any) -> None:
    # GIVEN team A's feature view with version 1, and the node naming it in team A's Assay namespace
    events, events_v1 = make_events_dataset(cast.team_a, cast.engineer_a, location="s3://lake/events/")
    view = make_feature_view(cast.team_a, cast.engineer_a, events)
    version = registry_actions.do_register_feature_set_version(
        view, actor=cast.engineer_a, dataset_versions=[events_v1.pk]
    )
    expected = naming.feature_set_version_name(version)
    node = g.dataset(g.namespace(expected.namespace, cast.team_a), expected.name)
    other = g.dataset(g.namespace(expected.namespace, cast.team_a), "feature-sets/customer_activity/v2")
    # WHEN both resolve THEN the first links to the version, the second (no such version) stays unregistered
    links.resolve_new([node, other])
    assert refreshed(node).feature_set_version == version
    assert refreshed(other).feature_set_version is None


def test_an_assay_namespace_claimed_by_another_team_links_to_nothing(cast: Any) -> None:
    events, events_v1 = make_events_dataset(cast.team_a, cast.engineer_a, location="s3://lake/events/")
    view = make_feature_view(cast.team_a, cast.engineer_a, events)
    registry_actions.do_register_feature_set_version(view, actor=cast.engineer_a, dataset_versions=[events_v1.pk])
    # GIVEN team B claimed assay://team-a (it wrote there first)
    node = g.dataset(g.namespace("assay://team-a", cast.team_b), "feature-sets/customer_activity/v1")
    # THEN the node does not link to team A's feature-set version
    assert links.lookup([refreshed(node)]) == {}


def test_a_model_version_links_by_its_artifact_digest(cast: Any, artifact_root: Path, tmp_path: Path) -> None:
    model = make_model(cast.team_a, cast.engineer_a)
    version = make_model_version(model, cast.engineer_a, write_onnx(tmp_path / "m.onnx"))
    name = naming.model_version_name(version)
    node = g.dataset(g.namespace(name.namespace, cast.team_a), name.name)
    elsewhere = g.dataset(g.namespace("assay://team-b", cast.team_b), name.name)
    links.resolve_new([node, elsewhere])
    assert refreshed(node).model_version == version
    assert refreshed(elsewhere).model_version is None


def test_a_run_edge_links_to_the_dataset_version_by_fingerprint_or_number(cast: Any) -> None:
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    v1 = make_dataset_version(dataset, cast.engineer_a)
    v2 = make_dataset_version(dataset, cast.engineer_a)
    ns = g.namespace("s3://lake", cast.team_a)
    node = g.dataset(ns, "customers")
    run = g.run(g.job(ns, "train"), inputs=[(node, v1.content_fingerprint)])
    later = g.run(g.job(ns, "score"), inputs=[(node, "v2")])
    unknown = g.run(g.job(ns, "other"), inputs=[(node, fingerprint("nothing registered"))])
    edges = list(RunEdge.objects.filter(run__in=[run, later, unknown]))
    # WHEN the node and its edges resolve together
    linked = links.resolve_new([node], edges)
    # THEN each named version is linked; the unknown fingerprint stays unresolved
    assert linked == links.Linked(datasets=1, edges=2)
    assert RunEdge.objects.get(run=run).dataset_version == v1
    assert RunEdge.objects.get(run=later).dataset_version == v2
    assert RunEdge.objects.get(run=unknown).dataset_version is None


def test_registering_after_the_lineage_arrived_shows_on_read_and_relink_persists_it(cast: Any) -> None:
    # GIVEN a node and an edge that arrived before anything was registered
    ns = g.namespace("s3://lake", cast.team_a)
    node = g.dataset(ns, "customers")
    run = g.run(g.job(ns, "train"), inputs=[(node, "v1")])
    assert links.resolve_new([node], list(RunEdge.objects.filter(run=run))) == links.Linked()
    # WHEN the dataset and its version are registered later
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    version = make_dataset_version(dataset, cast.engineer_a)
    # THEN a read resolves them at once without writing
    found = links.lookup([refreshed(node)])
    assert found[node.pk].registry_dataset == dataset
    assert links.lookup_versions(list(RunEdge.objects.filter(run=run)), found) == {
        RunEdge.objects.get(run=run).pk: version
    }
    assert refreshed(node).registry_dataset is None
    # AND a relink persists both, with one audit event saying how many
    assert do_relink(actor=cast.superuser) == links.Linked(datasets=1, edges=1)
    assert refreshed(node).registry_dataset == dataset
    assert RunEdge.objects.get(run=run).dataset_version == version
    event = AuditEvent.objects.filter(event_type=AuditEventType.LINEAGE_RELINKED).get()
    assert event.metadata == {"datasets_linked": 1, "edges_linked": 1}
    # AND a second relink links nothing and records nothing
    assert do_relink(actor=cast.superuser) == links.Linked()
    assert AuditEvent.objects.filter(event_type=AuditEventType.LINEAGE_RELINKED).count() == 1


def test_relink_for_a_team_leaves_other_teams_namespaces_alone(cast: Any) -> None:
    make_dataset(cast.team_b, cast.engineer_b, location="s3://b-lake/orders/")
    node_b = g.dataset(g.namespace("s3://b-lake", cast.team_b), "orders")
    assert do_relink(actor=None, team=cast.team_a) == links.Linked()
    assert refreshed(node_b).registry_dataset is None
    call_command("lineage_relink", "--team", "team-b", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert refreshed(node_b).registry_dataset is not None


def test_the_number_of_lookup_queries_does_not_grow_with_the_nodes(
    cast: Any, django_assert_max_num_queries: Any
) -> None:
    ns = g.namespace("s3://lake", cast.team_a)
    assay = g.namespace("assay://team-a", cast.team_a)
    nodes = [g.dataset(ns, f"table_{i}") for i in range(30)]
    nodes += [g.dataset(assay, f"feature-sets/view_{i}/v1") for i in range(10)]
    nodes += [g.dataset(assay, "sha256:" + fingerprint(str(i))) for i in range(10)]
    loaded = list(LineageDataset.objects.filter(pk__in=[n.pk for n in nodes]).select_related("namespace"))
    with django_assert_max_num_queries(4):
        links.lookup(loaded)


def test_ingested_events_link_as_they_fold_and_an_edge_finds_its_version(cast: Any) -> None:
    # GIVEN team A's dataset at s3://lake/customers/ with a version, registered before any lineage
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    version = make_dataset_version(dataset, cast.engineer_a)
    # WHEN team A's pipeline sends a run reading it (its fingerprint in the version facet) and writing elsewhere
    read = ol.dataset("s3://lake", "customers", version=ol.facet(datasetVersion=version.content_fingerprint))
    event = ol.run_event("COMPLETE", inputs=[read], outputs=[ol.dataset("warehouse://team-a", "daily")])
    do_ingest_events([event], actor=cast.engineer_a)
    # THEN the node is linked to the dataset and the run's edge to the version, by the fold itself
    node = LineageDataset.objects.get(namespace__name="s3://lake", name="customers")
    assert node.registry_dataset == dataset
    assert RunEdge.objects.get(dataset=node).dataset_version == version
    assert LineageDataset.objects.get(name="daily").registry_dataset is None


def test_a_later_event_links_a_node_registered_since(cast: Any) -> None:
    # GIVEN lineage that arrived before the dataset was registered
    do_ingest_events([ol.run_event("COMPLETE", inputs=[ol.dataset("s3://lake", "customers")])], actor=cast.engineer_a)
    assert LineageDataset.objects.get(name="customers").registry_dataset is None
    # WHEN it is registered and another event names the node THEN the fold links it (no relink needed)
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    do_ingest_events([ol.run_event("COMPLETE", inputs=[ol.dataset("s3://lake", "customers")])], actor=cast.engineer_a)
    assert LineageDataset.objects.get(name="customers").registry_dataset == dataset
