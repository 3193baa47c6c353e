"""Canary, promote, rollback, end of a trial, retire and the routes through the ``assay`` command against a live
server, as an engineer's terminal or a CI job sees them: the output, the exit codes, the gate's refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.choices import BoardRole
from governance import actions as governance
from serving.actions import do_deploy
from serving.models import Deployment, Route
from tests.cli.conftest import Cli
from tests.governance.factories import make_release_world, write_onnx
from tests.serving.factories import approve, new_version, request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def served(cli: Cli, cast: Any, tmp_path: Path) -> dict[str, Any]:
    """Version 1 of team A's model serving in production; version 2's release approved, not deployed."""
    rw = make_release_world(cast, write_onnx(tmp_path / "scorer.onnx"))
    approve(rw)
    first = do_deploy(rw.release, actor=cast.engineer_a)
    second = request(rw, new_version(rw, tmp_path, 2))
    approve(rw, second)
    model = rw.version.model
    return {"rw": rw, "first": first, "second": second, "model": model, "ref": f"{model.team.slug}/{model.name}"}


def test_canary_routes_promote_and_one_command_rollback(cli: Cli, served: dict[str, Any]) -> None:
    second, ref = served["second"], served["ref"]
    # WHEN engineer A deploys version 2 as a 10 percent canary
    canary = cli("deploy", "canary", str(second.pk), "--percent", "10")
    assert canary.code == 0, canary.err
    assert f"Deployed release {second.pk} as a canary:" in canary.out
    assert "v2 in production answers 10% of the requests beside the primary" in canary.out
    # THEN the routes show both
    routes = cli("routes", "--env", "production")
    assert routes.code == 0, routes.err
    [header, row] = routes.out.splitlines()
    assert header.split()[:5] == ["ENVIRONMENT", "MODEL", "PRIMARY", "CANARY", "SHADOW"]
    assert row.startswith("production")
    assert f"v1 (release {served['first'].release_id})" in row
    assert f"v2 (release {second.pk}, 10%)" in row
    # WHEN promoted, by TEAM/NAME
    promoted = cli("promote", ref, "--env", "production", "--json")
    assert promoted.code == 0, promoted.err
    assert (promoted.json()["role"], promoted.json()["model_version"]) == ("primary", 2)
    # AND rolled back with one command (by id)
    back = cli("rollback", str(served["model"].pk), "--env", "production")
    assert back.code == 0, back.err
    assert "Rolled back: " in back.out
    assert "serves v1 of release" in back.out
    assert "The inference service picks it up within seconds." in back.out
    route = Route.objects.select_related("primary__model_version").get()
    assert route.primary is not None
    assert (route.primary.model_version.number, route.canary_id, route.revision) == (1, None, 4)


def test_shadow_end_trial_and_retire(cli: Cli, served: dict[str, Any]) -> None:
    ref = served["ref"]
    shadow = cli("deploy", "shadow", str(served["second"].pk), "--json")
    assert shadow.code == 0, shadow.err
    assert shadow.json()["role"] == "shadow"
    ended = cli("end-trial", ref, "--env", "production", "--role", "shadow")
    assert ended.code == 0, ended.err
    assert ended.out.startswith("Ended the shadow.")
    retired = cli("retire", ref, "--env", "production", "--reason", "Product closed")
    assert retired.code == 0, retired.err
    assert "Retired: nothing serves it there now." in retired.out
    assert "retired" in retired.out.splitlines()[-1]
    assert Route.objects.get().primary_id is None


def test_refusals_name_the_reason_and_exit_1_or_2(cli: Cli, served: dict[str, Any]) -> None:
    ref, second = served["ref"], served["second"]
    # nothing to promote: the server's refusal, exit 1
    promote = cli("promote", ref, "--env", "production")
    assert promote.code == 1
    assert "refused (400)" in promote.err
    assert "nothing to promote" in promote.err
    # a share outside 1..50: refused before anything is sent, exit 2
    share = cli("deploy", "canary", str(second.pk), "--percent", "60")
    assert share.code == 2
    assert "--percent 60: a canary takes between 1 and 50 percent" in share.err
    # a model that does not exist
    missing = cli("rollback", "team-a/No such model", "--env", "production")
    assert missing.code == 1
    assert "No model named 'No such model' in team 'team-a'" in missing.err
    # the gate refuses a promotion: every failed check, and the route unchanged
    assert cli("deploy", "canary", str(second.pk), "--percent", "5").code == 0
    rw = served["rw"]
    _, key = rw.key_of(rw.cast.reviewers[BoardRole.LEGAL])
    governance.do_revoke_signing_key(key, actor=rw.cast.compliance, reason="Key leaked")
    refused = cli("promote", ref, "--env", "production")
    assert refused.code == 1
    assert "refused (409)" in refused.err
    assert "FAIL quorum:" in refused.err
    assert Route.objects.get().primary_id == served["first"].pk
    assert Deployment.objects.count() == 2


def test_batch_score_asks_for_the_served_version_and_shows_the_server_s_reason(
    cli: Cli, served: dict[str, Any]
) -> None:
    """GIVEN version 1 serving in production, a model whose ONNX metadata does not name its input's columns
    WHEN engineer A batch-scores its training data by TEAM/NAME and --env
    THEN the server's refusal is shown with its reason (exit 1): the job would not know which column feeds what.
    AND MODEL without --env, or both MODEL and --deployment, are refused before anything is sent (exit 2); an unknown
    deployment is the server's 404 (exit 1). (A job that runs: tests/serving/test_batch_scoring.py, through the API
    this command calls.)"""
    dataset_version = served["rw"].version.dataset_versions.get()
    scored = cli(
        "batch-score", served["ref"], "--env", "production", "--dataset-version", str(dataset_version.pk),
        "--output", "Scored applications",
    )  # fmt: skip
    assert scored.code == 1, scored.out
    assert "refused (400)" in scored.err
    assert "set the ONNX metadata property 'features'" in scored.err
    usage = cli("batch-score", served["ref"], "--dataset-version", str(dataset_version.pk), "--output", "X")
    assert usage.code == 2
    assert "MODEL and --env go together" in usage.err
    both = cli("batch-score", "--deployment", "1", "--env", "production", "--dataset-version", "1", "--output", "X")
    assert both.code == 2
    assert "Name either MODEL with --env, or --deployment ID." in both.err
    version = str(dataset_version.pk)
    missing = cli("batch-score", "--deployment", "999999", "--dataset-version", version, "--output", "X")
    assert missing.code == 1
    assert "(404)" in missing.err
