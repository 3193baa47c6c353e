"""A purged model version never reaches an environment: only a retired version's artifact is purged, and the gate
refuses a retired version (``release_open``) and an artifact it cannot read back (``artifact_integrity``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from compliance import actions
from governance.gate import run_gate
from registry import actions as registry_actions
from tests.governance.factories import make_release_world

pytestmark = pytest.mark.django_db


def test_the_gate_refuses_a_purged_model_version(cast: Any, artifact_root: Path, onnx_path: Path) -> None:
    # GIVEN a release of a version whose artifact was then retired and purged
    rw = make_release_world(cast, onnx_path)
    registry_actions.do_change_version_status(rw.version, actor=cast.admin_a, to_status="retired", reason="Gone.")
    rw.version.refresh_from_db()
    actions.do_delete_record_bytes(rw.version, actor=cast.admin_a, reason="Retention ended early.")
    # WHEN the gate judges it THEN it fails on both counts
    run = run_gate(rw.release, actor=cast.engineer_a, purpose="preview")
    failed = {check["name"]: check["reason"] for check in run.failed}
    assert not run.passed
    assert "release_open" in failed
    assert "artifact_integrity" in failed
