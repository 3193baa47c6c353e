"""The serving demo (`manage.py seed_serving_demo`, run by `make run` after the release demo): the scoring service
account's token is written for the README's curl (owner-only), a second version's staging release is approved and
deploys as a canary through the gate, promotes and rolls back; a second run adds nothing; production refuses it."""

from __future__ import annotations

import stat
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.models import ApiToken
from governance.models import Environment, Release
from registry.models import RegisteredModel
from serving.actions import do_deploy, do_promote, do_rollback
from serving.choices import DeploymentRole
from serving.management.commands.seed_serving_demo import SCORING_ACCOUNT
from serving.models import Route

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def folders(settings: Any, tmp_path: Path) -> Path:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.DATA_DIR = tmp_path / "data"
    return Path(settings.DATA_DIR)


def test_the_demo_serves_in_staging_and_a_canary_is_ready(folders: Path, django_user_model: Any) -> None:
    call_command("seed_demo", "--quiet-logins", stdout=StringIO())
    call_command("seed_registry_demo", stdout=StringIO())
    call_command("seed_release_demo", stdout=StringIO())
    out = StringIO()
    call_command("seed_serving_demo", stdout=out)
    # THEN the token file holds a token of the scoring service account, readable by its owner only
    token_file = folders / "demo" / "inference-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert token.startswith("assay_")
    assert token not in out.getvalue()
    assert ApiToken.objects.get(user__username=SCORING_ACCOUNT).name == "inference (demo)"
    # AND version 1 serves in staging, version 2's release is approved and not deployed
    staging = Environment.objects.get(slug="staging")
    model = RegisteredModel.objects.get(name="credit-limit-scorer")
    route = Route.objects.get(environment=staging, model=model)
    assert route.primary is not None
    assert route.primary.model_version.number == 1
    release = Release.objects.get(pk=int((folders / "demo" / "canary-release").read_text()))
    assert (release.model_version.number, release.environment_id, release.status) == (2, staging.pk, "open")
    # AND the README's steps work: canary, promote, rollback
    engineer = django_user_model.objects.get(username="erin-engineer")
    canary = do_deploy(release, actor=engineer, role=DeploymentRole.CANARY, traffic_percent=20)
    assert canary.gate_evaluation.passed
    assert do_promote(model, staging, actor=engineer).model_version.number == 2
    assert do_rollback(model, staging, actor=engineer).model_version.number == 1
    # AND a second run adds nothing
    again = StringIO()
    call_command("seed_serving_demo", stdout=again)
    assert "Serving demo: 0 new object(s)." in again.getvalue()
    assert ApiToken.objects.filter(user__username=SCORING_ACCOUNT).count() == 1


def test_production_refuses_the_serving_demo(settings: Any) -> None:
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="refuses to run with ASSAY_ENV=production"):
        call_command("seed_serving_demo", stdout=StringIO())
