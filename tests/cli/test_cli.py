"""The ``assay`` command against a live server: every command's happy path, the refusals a CI job must see as exit
code 1 with the server's words, usage errors as 2, and an unreachable server as 3."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest

from assay_cli.client import Client, Refused
from assay_cli.main import _create_or_reuse
from core.models import ApiToken
from registry.models import Dataset, ModelVersion, RegisteredModel
from tests.cli.conftest import SCHEMA, Cli, token_for

pytestmark = pytest.mark.django_db(transaction=True)

DATASET_ARGS = [
    "dataset",
    "register",
    "--team",
    "team-a",
    "--name",
    "Customers",
    "--format",
    "parquet",
    "--location",
    "s3://lake/customers/",
    "--classification",
    "confidential",
    "--legal-basis",
    "contract",
    "--residency",
    "eu-west-1",
]
FINGERPRINT = hashlib.sha256(b"rows of march").hexdigest()


def register_dataset(cli: Cli) -> int:
    result = cli(*DATASET_ARGS, "--json")
    assert result.code == 0, result.err
    return int(result.json()["dataset"]["id"])


def register_model(cli: Cli) -> int:
    result = cli("model", "register", "--team", "team-a", "--name", "Churn scorer", "--tag", "churn", "--json")
    assert result.code == 0, result.err
    return int(result.json()["model"]["id"])


def with_column(**column: Any) -> dict[str, Any]:
    schema = copy.deepcopy(SCHEMA)
    schema["columns"].append(column)
    return schema


# --- Happy paths --------------------------------------------------------------------------------------------------


def test_whoami_names_the_token_owner_and_their_teams(cli: Cli) -> None:
    result = cli("whoami")

    assert result.code == 0, result.err
    assert "erin-engineer" in result.out
    assert "team-a: engineer" in result.out
    assert cli("whoami", "--json").json()["username"] == "erin-engineer"


def test_the_token_can_come_from_a_file(cli: Cli) -> None:
    token_file = cli.folder / "token"
    token_file.write_text(f"{cli.token}\n")

    result = cli("--token-file", str(token_file), "whoami", token=None)

    assert result.code == 0, result.err
    assert "erin-engineer" in result.out


def test_dataset_register_creates_once_then_reuses(cli: Cli) -> None:
    first = cli(*DATASET_ARGS)
    assert first.code == 0, first.err
    assert "Created dataset 'Customers'" in first.out
    dataset = Dataset.objects.get()
    assert (dataset.team.slug, dataset.owner.username, dataset.residency_region) == (
        "team-a",
        "erin-engineer",
        "eu-west-1",
    )

    again = cli(*DATASET_ARGS, "--json")

    assert again.code == 0, again.err
    assert again.json()["created"] is False
    assert again.json()["dataset"]["id"] == dataset.pk
    assert Dataset.objects.count() == 1


def test_dataset_register_says_when_the_existing_dataset_differs(cli: Cli) -> None:
    register_dataset(cli)

    result = cli(*[arg if arg != "confidential" else "internal" for arg in DATASET_ARGS])

    assert result.code == 0, result.err
    assert "Reusing existing dataset" in result.out
    assert "classification='confidential', not 'internal'" in result.err
    assert Dataset.objects.get().classification == "confidential"


def test_dataset_versions_print_the_evolution_report(cli: Cli) -> None:
    register_dataset(cli)
    schema = cli.write("schema.json", SCHEMA)
    first = cli(
        "dataset",
        "version",
        "--team",
        "team-a",
        "--name",
        "Customers",
        "--schema",
        str(schema),
        "--fingerprint",
        FINGERPRINT,
        "--row-count",
        "130500",
    )
    assert first.code == 0, first.err
    assert "version 1" in first.out
    assert "personal data: age" in first.out
    assert "first version" in first.out

    grown = cli.write("schema2.json", with_column(name="segment", type="string", nullable=True))
    data = cli.write("customers.parquet", b"april rows")
    second = cli(
        "dataset",
        "version",
        "--team",
        "team-a",
        "--name",
        "Customers",
        "--schema",
        str(grown),
        "--data-file",
        str(data),
    )

    assert second.code == 0, second.err
    assert "version 2" in second.out
    assert "Schema evolution against version 1: compatible" in second.out
    assert "segment" in second.out
    stored = Dataset.objects.get().versions.get(number=2)
    assert stored.content_fingerprint == hashlib.sha256(b"april rows").hexdigest()
    assert stored.breaking_change is False


def test_a_breaking_schema_change_needs_the_flag(cli: Cli) -> None:
    dataset_id = register_dataset(cli)
    cli(
        "dataset",
        "version",
        "--dataset",
        str(dataset_id),
        "--schema",
        str(cli.write("s1.json", SCHEMA)),
        "--fingerprint",
        FINGERPRINT,
    )
    narrowed = copy.deepcopy(SCHEMA)
    narrowed["columns"] = [column for column in narrowed["columns"] if column["name"] != "churned"]
    schema = cli.write("s2.json", narrowed)
    args = ["dataset", "version", "--dataset", str(dataset_id), "--schema", str(schema), "--fingerprint", FINGERPRINT]

    refused = cli(*args)

    assert refused.code == 1
    assert "refused (400)" in refused.err
    assert "schema:" in refused.err
    assert "churned" in refused.err
    assert Dataset.objects.get().versions.count() == 1

    allowed = cli(*args, "--allow-breaking-change", "--json")

    assert allowed.code == 0, allowed.err
    assert allowed.json()["breaking_change"] is True
    assert allowed.json()["evolution"]["breaking"] is True
    assert "--allow-breaking-change" in refused.err
    regrown = with_column(name="segment", type="string", nullable=True)
    regrown["columns"] = [column for column in regrown["columns"] if column["name"] != "churned"]
    human = cli(
        "dataset",
        "version",
        "--dataset",
        str(dataset_id),
        "--schema",
        str(cli.write("s3.json", regrown)),
        "--fingerprint",
        FINGERPRINT,
    )
    assert human.code == 0, human.err
    assert "Schema evolution against version 2: compatible" in human.out


def test_model_register_and_version_print_the_contract(cli: Cli, onnx_model: Path) -> None:
    dataset_id = register_dataset(cli)
    cli(
        "dataset",
        "version",
        "--dataset",
        str(dataset_id),
        "--schema",
        str(cli.write("s.json", SCHEMA)),
        "--fingerprint",
        FINGERPRINT,
    )
    created = cli("model", "register", "--team", "team-a", "--name", "Churn scorer", "--tag", "churn")
    assert created.code == 0, created.err
    assert "Created model 'Churn scorer'" in created.out
    model_id = register_model(cli)  # the second time, reused
    assert RegisteredModel.objects.get().pk == model_id

    result = cli(
        "model",
        "version",
        "--team",
        "team-a",
        "--name",
        "Churn scorer",
        "--onnx",
        str(onnx_model),
        "--params",
        str(cli.write("params.json", {"C": 1.0})),
        "--metrics",
        str(cli.write("metrics.json", {"auc": 0.91, "test": {"f1": 0.8}})),
        "--dataset-version",
        "Customers:1",  # by name, in the model's team
    )

    assert result.code == 0, result.err
    digest = hashlib.sha256(onnx_model.read_bytes()).hexdigest()
    assert "'Churn scorer' version 1" in result.out
    assert f"sha256: {digest}" in result.out
    assert "Interface contract:" in result.out
    assert "input   X  tensor float32 [?, 4]" in result.out
    assert "output  probabilities  tensor float32 [?, 2]" in result.out
    assert "auc=0.91, test.f1=0.8" in result.out
    assert "trained on: Customers v1" in result.out
    version = ModelVersion.objects.get()
    assert f"id:     {version.pk} (release it: assay release request --model-version {version.pk} " in result.out
    assert (version.artifact_sha256, version.training_params) == (digest, {"C": 1.0})
    assert [item.number for item in version.dataset_versions.all()] == [1]


def test_model_version_names_a_dataset_version_given_by_id(cli: Cli, onnx_model: Path) -> None:
    dataset_id = register_dataset(cli)
    schema = str(cli.write("s.json", SCHEMA))
    made = cli("dataset", "version", "--dataset", str(dataset_id), "--schema", schema, "--fingerprint", FINGERPRINT)
    assert made.code == 0, made.err
    model_id = register_model(cli)

    result = cli(
        "model", "version", "--model", str(model_id), "--onnx", str(onnx_model), "--dataset-version", f"{dataset_id}:1"
    )

    assert result.code == 0, result.err
    assert "trained on: Customers v1" in result.out
    assert "ids" not in result.out


def test_model_version_json_and_listing_and_status(cli: Cli, onnx_model: Path) -> None:
    model_id = register_model(cli)
    upload = cli("model", "version", "--model", str(model_id), "--onnx", str(onnx_model), "--json")
    assert upload.code == 0, upload.err
    body = upload.json()
    assert body["number"] == 1
    assert body["status"] == "registered"
    assert body["interface"]["inputs"][0]["name"] == "X"
    cli("model", "version", "--model", str(model_id), "--onnx", str(onnx_model))

    listing = cli("model", "versions", "--model", str(model_id))

    assert listing.code == 0, listing.err
    lines = listing.out.splitlines()
    assert lines[0].split() == ["VERSION", "ID", "STATUS", "SHA256", "SIZE", "CREATED", "BY"]
    assert [line.split()[0] for line in lines[1:]] == ["2", "1"]
    # the id is what `release request --model-version` takes
    ids = dict(ModelVersion.objects.values_list("number", "pk"))
    assert [line.split()[1] for line in lines[1:]] == [str(ids[2]), str(ids[1])]
    assert [item["number"] for item in cli("model", "versions", "--model", str(model_id), "--json").json()] == [2, 1]

    moved = cli(
        "model",
        "status",
        "--team",
        "team-a",
        "--name",
        "Churn scorer",
        "--version",
        "1",
        "--to",
        "in_review",
        "--reason",
        "Ready for the board",
    )

    assert moved.code == 0, moved.err
    assert "version 1: registered -> in_review" in moved.out
    assert "Ready for the board" in moved.out
    assert ModelVersion.objects.get(number=1).status == "in_review"


# --- Refusals -----------------------------------------------------------------------------------------------------


def test_a_pickle_named_onnx_is_refused_with_the_servers_reason(cli: Cli, pickle_model: Path) -> None:
    model_id = register_model(cli)

    result = cli("model", "version", "--model", str(model_id), "--onnx", str(pickle_model))

    assert result.code == 1
    assert "refused (400)" in result.err
    assert "pickle" in result.err
    assert "not ONNX" in result.err
    assert result.err.count("not ONNX") == 1  # the field error that repeats the sentence names its field instead
    assert not ModelVersion.objects.exists()


def test_an_engineer_may_not_reach_another_teams_dataset(cli: Cli, cast: Any, onnx_model: Path) -> None:
    other = Cli(url=cli.url, folder=cli.folder, token=token_for(cast.engineer_b))
    theirs = other(*[arg if arg != "team-a" else "team-b" for arg in DATASET_ARGS], "--json")
    assert theirs.code == 0, theirs.err
    their_id = theirs.json()["dataset"]["id"]
    schema = str(cli.write("s.json", SCHEMA))
    assert (
        other("dataset", "version", "--dataset", str(their_id), "--schema", schema, "--fingerprint", FINGERPRINT).code
        == 0
    )

    version = cli("dataset", "version", "--dataset", str(their_id), "--schema", schema, "--fingerprint", FINGERPRINT)
    assert version.code == 1
    assert "refused (404): Not found." in version.err

    by_name = cli(
        "dataset",
        "version",
        "--team",
        "team-b",
        "--name",
        "Customers",
        "--schema",
        schema,
        "--fingerprint",
        FINGERPRINT,
    )
    assert by_name.code == 1
    assert "No dataset named 'Customers' in team 'team-b'" in by_name.err

    created = cli(*[arg if arg != "team-a" else "team-b" for arg in DATASET_ARGS])
    assert created.code == 1
    assert "team: Object with slug=team-b does not exist." in created.err

    model_id = register_model(cli)
    trained = cli(
        "model", "version", "--model", str(model_id), "--onnx", str(onnx_model), "--dataset-version", f"{their_id}:1"
    )
    assert trained.code == 1
    assert f"--dataset-version {their_id}:1: no such dataset version." in trained.err
    by_name = cli(
        "model", "version", "--model", str(model_id), "--onnx", str(onnx_model), "--dataset-version", "Customers:1"
    )
    assert by_name.code == 1
    assert "no dataset named 'Customers' in team team-a" in by_name.err
    assert Dataset.objects.get(pk=their_id).versions.count() == 1
    assert not ModelVersion.objects.exists()


def test_without_a_token_the_cli_says_how_to_give_one(cli: Cli) -> None:
    result = cli("whoami", token=None)

    assert result.code == 1
    assert "no API token" in result.err
    assert "ASSAY_TOKEN" in result.err


def test_a_wrong_token_is_refused_by_the_server(cli: Cli) -> None:
    assert cli.token is not None
    parsed = ApiToken.parse(cli.token)
    assert parsed is not None
    key_id = parsed[0]  # may itself contain "_"
    wrong = f"assay_{key_id}_{'x' * 40}"

    result = cli("whoami", token=wrong)

    assert result.code == 1
    assert "refused (401): Invalid token." in result.err


def test_an_unreachable_server_is_exit_code_3(cli: Cli, closed_port: int) -> None:
    result = cli("whoami", url=f"http://127.0.0.1:{closed_port}")

    assert result.code == 3
    assert f"Cannot reach http://127.0.0.1:{closed_port}" in result.err
    assert "Point the CLI at it with ASSAY_URL (or --url)" in result.err  # make run PORT=8100 needs it


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["dataset", "register", "--team", "team-a"],
        ["dataset", "register", *DATASET_ARGS[2:], "--format", "xlsx"],
        ["model", "versions"],
        ["model", "versions", "--model", "1", "--team", "team-a", "--name", "x"],
        ["model", "version", "--model", "1", "--onnx", "missing.onnx"],
        ["model", "status", "--model", "1", "--version", "1", "--to", "shipped", "--reason", "x"],
        ["dataset", "version", "--dataset", "1", "--schema", "missing.json", "--fingerprint", "0" * 64],
        ["dataset", "version", "--dataset", "1", "--schema", "schema.json"],
        ["--url", "file:///etc/passwd", "whoami"],
    ],
)
def test_bad_usage_is_exit_code_2(cli: Cli, args: list[str]) -> None:
    cli.write("schema.json", SCHEMA)

    result = cli(*args)

    assert result.code == 2
    assert "usage:" in result.err or "error:" in result.err


LOOKALIKE = "assay_AbCd-_12_" + "s3cr3t" * 8


@pytest.mark.parametrize(
    "args",
    [
        ["--token", LOOKALIKE, "whoami"],
        ["whoami", f"--token={LOOKALIKE}"],
        ["--tok", LOOKALIKE, "whoami"],  # no abbreviation turns it into --token-file (whose error names the file)
        ["whoami", LOOKALIKE],
    ],
)
def test_a_token_on_the_command_line_is_refused_and_never_echoed(cli: Cli, args: list[str]) -> None:
    result = cli(*args)

    assert result.code == 2
    assert "s3cr3t" not in result.out + result.err
    if args[0] == "--token" or args[1].startswith("--token="):
        assert "there is no --token option" in result.err
    else:
        assert "assay_<redacted>" in result.err


def test_a_malformed_dataset_version_reference_is_a_usage_error(cli: Cli, onnx_model: Path) -> None:
    result = cli("model", "version", "--model", "1", "--onnx", str(onnx_model), "--dataset-version", "7")

    assert result.code == 2
    assert "expected DATASET:NUMBER" in result.err


def test_refusals_are_json_too(cli: Cli) -> None:
    result = cli(
        "dataset",
        "version",
        "--dataset",
        "999",
        "--schema",
        str(cli.write("s.json", SCHEMA)),
        "--fingerprint",
        FINGERPRINT,
        "--json",
    )

    assert result.code == 1
    assert result.json()["error"]["status"] == 404
    assert result.json()["error"]["exit_code"] == 1


def test_a_create_that_loses_a_race_reuses_the_winners_object(cli: Cli, cast: Any) -> None:
    # GIVEN another pipeline registered the dataset after this one looked for it and found none
    winner = register_dataset(cli)
    payload = {
        "team": "team-a",
        "name": "Customers",
        "owner": "erin-engineer",
        "storage_format": "parquet",
        "location": "s3://lake/customers/",
        "classification": "confidential",
        "legal_basis": "contract",
    }
    assert cli.token is not None
    client = Client(cli.url, cli.token, timeout=30)

    # WHEN this one creates it
    found, created = _create_or_reuse(client, "datasets/", payload)

    # THEN the server's refusal of the duplicate name turns into a reuse of the winner's dataset
    assert (found["id"], created) == (winner, False)
    assert Dataset.objects.count() == 1
    other_refusal = {**payload, "name": "Other", "location": "file:///etc/passwd"}
    with pytest.raises(Refused, match=r"^Invalid input: location$") as refused:
        _create_or_reuse(client, "datasets/", other_refusal)
    assert "location" in refused.value.fields


def test_model_download_writes_the_checked_file(cli: Cli, onnx_model: Path) -> None:
    model_id = register_model(cli)
    cli("model", "version", "--model", str(model_id), "--onnx", str(onnx_model))
    target = cli.folder / "fetched.onnx"

    result = cli("model", "download", "--team", "team-a", "--name", "Churn scorer", "--version", "1", "-o", str(target))

    assert result.code == 0, result.err
    assert target.read_bytes() == onnx_model.read_bytes()
    assert f"sha256: {hashlib.sha256(onnx_model.read_bytes()).hexdigest()} (checked)" in result.out
    assert not list(cli.folder.glob("*.part"))

    missing = cli("model", "download", "--model", str(model_id), "--version", "9", "-o", str(cli.folder / "x.onnx"))
    assert missing.code == 1
    assert "refused (404)" in missing.err
    assert not (cli.folder / "x.onnx").exists()
    nowhere = cli("model", "download", "--model", str(model_id), "--version", "1", "-o", "/nonexistent/dir/m.onnx")
    assert nowhere.code == 2
    assert "cannot write" in nowhere.err


def test_model_download_to_standard_output(cli: Cli, onnx_model: Path) -> None:
    model_id = register_model(cli)
    cli("model", "version", "--model", str(model_id), "--onnx", str(onnx_model))

    code, out, err = cli.run("model", "download", "--model", str(model_id), "--version", "1", "-o", "-")

    assert code == 0, err
    assert out == onnx_model.read_bytes()  # the model alone: the summary is on standard error
    assert "to standard output" in err
    assert f"sha256: {hashlib.sha256(out).hexdigest()} (checked)" in err
    assert not (cli.folder / "-").exists()
    assert not list(cli.folder.glob("*.part"))
