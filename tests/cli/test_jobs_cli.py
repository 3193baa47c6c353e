"""``assay features materialize``, ``assay model train`` and ``assay job show`` against a live server: the request
answers with the job at once (it is queued, not run here: tests/workers/test_spark_jobs.py runs Spark jobs)."""

from __future__ import annotations

from typing import Any

from core.models import Job
from tests.cli.conftest import Cli
from tests.registry.factories import make_events_dataset, make_feature_view, make_model


def test_features_materialize_starts_a_job_and_job_show_reads_it(cli: Cli, cast: Any) -> None:
    dataset, version = make_events_dataset(cast.team_a, cast.engineer_a, location="lake://events")
    view = make_feature_view(cast.team_a, cast.engineer_a, dataset)
    started = cli(
        "--json", "features", "materialize", "--view", str(view.pk), "--dataset-version", str(version.pk),
        "--idempotency-key", "nightly-1",
    )  # fmt: skip
    assert started.code == 0, started.err
    job = started.json()
    assert job["kind"] == "registry.materialize_features"
    assert job["status"] == "queued"
    again = cli(
        "--json", "features", "materialize", "--view", str(view.pk), "--dataset-version", str(version.pk),
        "--idempotency-key", "nightly-1",
    )  # fmt: skip
    assert again.json()["id"] == job["id"]
    assert Job.objects.count() == 1
    shown = cli("job", "show", job["id"])
    assert shown.code == 0, shown.err
    assert f"Job {job['id']}: registry.materialize_features of customer_activity" in shown.out
    assert "status:    queued (attempt 0)" in shown.out
    assert "queued by erin-engineer" in shown.out


def test_model_train_shows_the_server_s_reason_for_a_refusal(cli: Cli, cast: Any) -> None:
    make_events_dataset(cast.team_a, cast.engineer_a, location="lake://events")
    model = make_model(cast.team_a, cast.engineer_a)
    refused = cli(
        "model", "train", "--model", str(model.pk), "--feature-set-version", "999999", "--label", "churned",
        "--algorithm", "gbt",
    )  # fmt: skip
    assert refused.code == 1
    assert 'feature_set_version: Invalid pk "999999" - object does not exist.' in refused.err
    assert not Job.objects.exists()


def test_model_train_checks_its_arguments_before_asking(cli: Cli) -> None:
    result = cli("model", "train", "--model", "1", "--feature-set-version", "1", "--label", "y", "--algorithm", "svm")
    assert result.code == 2
    assert "invalid choice: 'svm'" in result.err


def test_job_list_shows_the_jobs_newest_first_with_the_api_s_filters(cli: Cli, cast: Any) -> None:
    dataset, version = make_events_dataset(cast.team_a, cast.engineer_a, location="lake://events")
    view = make_feature_view(cast.team_a, cast.engineer_a, dataset)
    started = [
        cli("--json", "features", "materialize", "--view", str(view.pk), "--dataset-version", str(version.pk),
            "--idempotency-key", f"run-{number}").json()["id"]
        for number in (1, 2)
    ]  # fmt: skip
    Job.objects.filter(public_id=started[0]).update(status="failed")

    listed = cli("job", "list")

    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    assert lines[0].split() == ["ID", "KIND", "STATUS", "PROGRESS", "TEAM", "BY", "CREATED", "TARGET"]
    assert [line.split()[:3] for line in lines[1:]] == [
        [started[1], "registry.materialize_features", "queued"],
        [started[0], "registry.materialize_features", "failed"],
    ]
    failed = cli("job", "list", "--status", "failed", "--json")
    assert [job["id"] for job in failed.json()] == [started[0]]
    both = cli("job", "list", "--status", "failed", "--status", "queued", "--team", "team-a", "--json")
    assert [job["id"] for job in both.json()] == started[::-1]
    assert [job["id"] for job in cli("job", "list", "--limit", "1", "--json").json()] == [started[1]]
    assert cli("job", "list", "--kind", "audit.verify").out.strip() == "No jobs."
    assert cli("job", "list", "--team", "team-b", "--json").json() == []


def test_job_list_checks_its_arguments_before_asking(cli: Cli) -> None:
    assert cli("job", "list", "--status", "stuck").code == 2
    limited = cli("job", "list", "--limit", "0")
    assert limited.code == 2
    assert "expected a whole number from 1 to 10000, not '0'" in limited.err
