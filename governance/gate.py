"""The deployment gate: named checks over a release, each reporting pass or fail with its reason.

A check is a function of a ``GateContext`` that returns ``(passed, reason)``; ``register_check`` adds it to the
registry under a stable name. Checks registered with ``always=True`` run for every release (the built-ins below);
the others run when the release's policy version names them in ``required_checks``. Other apps contribute theirs
(DPIA, audits, lineage, retention, model card) by registering them from their ``AppConfig.ready``; the policy
validator reads ``known_checks()``. A policy that requires a name nobody registered fails closed: the gate reports
that check as failed, naming it.

Every check runs, whatever the others said, so that a refused deployment lists everything that is wrong at once. A
check that raises is reported as failed with the error (fail closed), never skipped.

Built-in checks:

- ``release_open``: the release is not withdrawn, not already deployed (a rollback redeploys one that was), and its
  model version is not retired.
- ``policy_current``: the release is judged by the policy version it recorded when it was requested (the rules its
  reviewers signed under, and that an exported bundle carries). That version must still be the one in force for the
  model's team, the environment and the use case's risk tier (governance.policies.policy_in_force): once the
  rules change (a new version, a team policy over the organisation's, another risk tier), open releases are requested
  again under the rules in force rather than deployed under the old ones.
- ``quorum``: the signatures that still count (governance.evaluation: valid, unrevoked, unexpired, not stale, signer
  on the board and not conflicted) meet the policy, and none of them rejects.
- ``manifest_current``: the manifest rebuilt from the database now is the one that was signed; if not, what changed.
- ``artifact_integrity``: the artifact's bytes, read back from the store and re-hashed, are the ones the manifest
  names (digest and size). A mismatch or a missing file is recorded as ``artifact.corrupted``.

``run_gate`` judges and writes nothing; ``evaluate_gate`` runs it and stores the ``GateEvaluation``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from django.db import transaction
from django.utils import timezone

from governance.choices import EvaluationPurpose, ReleaseStatus
from governance.evaluation import ReleaseState, release_state
from governance.manifest import build_manifest, manifest_diff, manifest_digest
from governance.models import GateEvaluation, Release
from governance.policies import policy_in_force
from lineage.traversal import Closure, upstream_closure
from registry import artifacts
from registry.actions import do_record_artifact_corruption
from registry.choices import VersionStatus

logger = logging.getLogger(__name__)

Verdict = tuple[bool, str]
CheckFunction = Callable[["GateContext"], Verdict]


@dataclass(frozen=True)
class GateCheck:
    name: str
    description: str
    function: CheckFunction
    always: bool = False
    # Runs, besides, for every release whose stored manifest this says yes to (``data_access``: other teams' data).
    applies: Callable[[dict[str, Any]], bool] | None = None


_CHECKS: dict[str, GateCheck] = {}


def register_check(
    name: str,
    description: str,
    *,
    always: bool = False,
    applies: Callable[[dict[str, Any]], bool] | None = None,
) -> Callable[[CheckFunction], CheckFunction]:
    """Register ``function(context) -> (passed, reason)`` as the gate check ``name``. ``always``: it runs for every
    release; ``applies``: it runs for every release whose manifest (as requested) it says yes to; otherwise only
    when a policy version lists it in ``required_checks``. Names are stable: a policy stores them."""

    def decorate(function: CheckFunction) -> CheckFunction:
        existing = _CHECKS.get(name)
        if existing is not None and existing.function is not function:
            raise ValueError(f"A gate check named {name!r} is already registered ({existing.function.__module__}).")
        _CHECKS[name] = GateCheck(name=name, description=description, function=function, always=always, applies=applies)
        return function

    return decorate


def known_checks() -> dict[str, GateCheck]:
    """Every registered check by name, the built-ins first."""
    return dict(_CHECKS)


# --- What a check sees --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactProbe:
    """The model version's artifact read back from the store: ``sha256`` and ``size`` of the bytes found, or
    ``fault`` saying why they could not be vouched for. ``rehashed`` is False when only the file's presence and size
    were looked at (the digest is then the expected one, taken on trust)."""

    expected_sha256: str
    expected_size: int | None
    sha256: str = ""
    size: int | None = None
    rehashed: bool = True
    fault: str = ""


def manifest_artifact(manifest: dict[str, Any]) -> tuple[str, int | None]:
    """The artifact digest and size a manifest names."""
    artifact = manifest.get("artifact") or {}
    size = artifact.get("size")
    return str(artifact.get("sha256", "")), size if isinstance(size, int) else None


def probe_artifact(sha256: str, size: int | None, *, rehash: bool = True) -> ArtifactProbe:
    """Read the stored artifact ``sha256`` back. With ``rehash`` every byte is hashed again (the deploy path);
    without, only that the file is there with the right size (cheap: for previews and the benchmark)."""
    store = artifacts.ArtifactStore.default()
    try:
        if rehash:
            stored = store.verify(sha256)
            return ArtifactProbe(expected_sha256=sha256, expected_size=size, sha256=sha256, size=stored.size)
        path = store.path_for(sha256)
        found = path.lstat()
    except artifacts.ArtifactCorrupted as error:
        return ArtifactProbe(expected_sha256=sha256, expected_size=size, sha256=error.actual, fault=str(error))
    except artifacts.ArtifactMissing as error:
        return ArtifactProbe(expected_sha256=sha256, expected_size=size, fault=str(error))
    except FileNotFoundError:
        return ArtifactProbe(expected_sha256=sha256, expected_size=size, fault=f"No artifact {sha256} is stored.")
    except (artifacts.InvalidDigest, OSError) as error:
        return ArtifactProbe(expected_sha256=sha256, expected_size=size, fault=f"unreadable: {error}")
    fault = "" if found.st_size == size else f"The stored file is {found.st_size} bytes, not {size}."
    return ArtifactProbe(
        expected_sha256=sha256, expected_size=size, sha256=sha256, size=found.st_size, rehashed=False, fault=fault
    )


@dataclass
class GateContext:
    """What the checks of one evaluation share, each part computed once, on first use."""

    release: Release
    actor: Any
    purpose: str
    now: datetime
    redeploy: bool = False
    rehash: bool = True
    artifact: ArtifactProbe | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    # The manifest the caller already rebuilt in this request (the release page), so it is built once.
    built_manifest: dict[str, Any] | None = None

    @cached_property
    def lineage_closure(self) -> Closure:
        """The model version's upstream lineage closure now: the manifest's ``lineage`` and the lineage check read
        the same one."""
        return upstream_closure(self.release.model_version)

    @cached_property
    def manifest(self) -> dict[str, Any]:
        """The manifest rebuilt from the database now."""
        if self.built_manifest is not None:
            return self.built_manifest
        built: dict[str, Any] = build_manifest(self.release, closure=self.lineage_closure)
        return built

    @cached_property
    def current_digest(self) -> str:
        return str(manifest_digest(self.manifest))

    @cached_property
    def state(self) -> ReleaseState:
        return release_state(self.release, now=self.now, current_digest=self.current_digest)

    def artifact_probe(self) -> ArtifactProbe:
        if self.artifact is None:
            version = self.release.model_version
            self.artifact = probe_artifact(version.artifact_sha256, version.artifact_size, rehash=self.rehash)
        return self.artifact


# --- The built-in checks ------------------------------------------------------------------------------------------


@register_check(
    "release_open",
    "The release is neither withdrawn nor already deployed, and its model version is not retired.",
    always=True,
)
def check_release_open(context: GateContext) -> Verdict:
    release = context.release
    version = release.model_version
    problems = []
    if release.status == ReleaseStatus.WITHDRAWN:
        problems.append(f"the release was withdrawn: {release.withdrawal_reason}")
    elif release.status == ReleaseStatus.DEPLOYED and not context.redeploy:
        problems.append("the release is already deployed; request a new release, or roll back to it")
    elif release.status == ReleaseStatus.OPEN and context.redeploy:
        problems.append("a rollback returns to a release that was deployed before; this one never was")
    if version.status == VersionStatus.RETIRED:
        problems.append(f"model version {version.number} is retired")
    if problems:
        text = "; ".join(problems)
        return False, text[0].upper() + text[1:] + "."
    return True, f"Release {release.status}; model version {version.number} is {version.status}."


@register_check(
    "policy_current",
    "The policy version the release was requested under is still the one in force for its team, environment and "
    "risk tier.",
    always=True,
)
def check_policy_current(context: GateContext) -> Verdict:
    release = context.release
    recorded = release.policy_version
    model = release.model_version.model
    use_case = model.use_case
    if use_case is None:
        return False, f"Model {model.name} no longer serves a use case: no policy can be in force for it."
    in_force = policy_in_force(model.team, release.environment, use_case.risk_tier)
    name = f"{recorded.policy.name!r} version {recorded.number}"
    if in_force is None:
        return False, (
            f"No policy is in force now for {release.environment.slug} and {use_case.risk_tier} risk; this release "
            f"was requested under {name}."
        )
    if in_force.pk != recorded.pk:
        return False, (
            f"Policy {in_force.policy.name!r} version {in_force.number} is in force now for "
            f"{release.environment.slug} and {use_case.risk_tier} risk; this release was requested under {name}. "
            "Request the release again to be judged by the rules in force."
        )
    return True, f"Judged by policy {name}, still in force."


@register_check(
    "quorum",
    "Valid, unrevoked, unexpired, non-stale signatures of board members without a conflict meet the policy.",
    always=True,
)
def check_quorum(context: GateContext) -> Verdict:
    state = context.state
    return state.approved, state.summary()


@register_check(
    "manifest_current",
    "The manifest rebuilt from the database now is the one the counted signatures signed.",
    always=True,
)
def check_manifest_current(context: GateContext) -> Verdict:
    current = context.current_digest
    states = context.state.approvals
    if any(state.approval.manifest_digest == current for state in states):
        return True, f"The manifest is unchanged since it was signed (sha256 {current})."
    if not states:
        return False, f"No signature covers the current manifest (sha256 {current}): nobody has signed yet."
    newest = states[-1].approval
    changes = manifest_diff(newest.manifest, context.manifest)
    listed = "; ".join(_describe_change(change) for change in changes[:10])
    more = f" (and {len(changes) - 10} more)" if len(changes) > 10 else ""
    return False, (
        f"The manifest changed since it was last signed ({newest.manifest_digest[:12]}… → {current[:12]}…): "
        f"{listed or 'its digest differs'}{more}. The release must be signed again."
    )


def _describe_change(change: Any) -> str:
    if isinstance(change, dict):
        return f"{change.get('path')}: {change.get('before')!r} → {change.get('after')!r}"
    return str(change)


@register_check(
    "artifact_integrity",
    "The artifact's bytes, read back from storage and re-hashed, match the digest and size in the manifest.",
    always=True,
)
def check_artifact_integrity(context: GateContext) -> Verdict:
    probe = context.artifact_probe()
    sha256, size = manifest_artifact(context.manifest)
    if probe.fault:
        return False, f"The stored artifact cannot be vouched for: {probe.fault}"
    if probe.sha256 != sha256:
        return False, f"The stored artifact is {probe.sha256}; the manifest names {sha256 or 'none'}."
    if probe.size != size:
        return False, f"The stored artifact is {probe.size} bytes; the manifest says {size}."
    how = "re-hashed" if probe.rehashed else "present with the right size (not re-hashed in a preview)"
    return True, f"Artifact sha256 {probe.sha256}, {probe.size} bytes, {how}."


# --- Running the gate ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateRun:
    """A finished, unsaved evaluation: what ``evaluate_gate`` stores."""

    release: Release
    purpose: str
    passed: bool
    checks: list[dict[str, Any]]
    manifest_digest: str
    evaluated_at: datetime
    duration_ms: float
    artifact: ArtifactProbe | None

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [check for check in self.checks if not check["passed"]]


def checks_for(release: Release) -> list[tuple[str, GateCheck | None]]:
    """The checks the release's policy asks for, in order: every ``always`` check and every check that ``applies``
    to its manifest, then the policy's ``required_checks`` (``None`` for a name nobody registered)."""
    manifest = release.manifest or {}
    names = [
        name
        for name, check in _CHECKS.items()
        if check.always or (check.applies is not None and check.applies(manifest))
    ]
    for name in release.policy_version.required_checks or []:
        if isinstance(name, str) and name not in names:
            names.append(name)
    return [(name, _CHECKS.get(name)) for name in names]


def _run_one(name: str, check: GateCheck | None, context: GateContext) -> dict[str, Any]:
    if check is None:
        return {
            "name": name,
            "passed": False,
            "reason": f"The policy requires the check {name!r}, which no installed app provides; failing closed.",
        }
    try:
        passed, reason = check.function(context)
    except Exception as error:  # a broken check must fail the gate, not open it or hide the others
        logger.exception("gate check %s raised on release %s", name, context.release.pk)
        return {"name": name, "passed": False, "reason": f"The check could not run: {type(error).__name__}: {error}"}
    return {"name": name, "passed": bool(passed), "reason": str(reason)}


def run_gate(
    release: Release,
    *,
    actor: Any,
    purpose: str,
    now: datetime | None = None,
    redeploy: bool = False,
    rehash: bool = True,
    artifact: ArtifactProbe | None = None,
    manifest: dict[str, Any] | None = None,
) -> GateRun:
    """Judge ``release`` now; write nothing. ``artifact``, when given, is a probe taken beforehand (the deploy
    action re-hashes before it takes its locks); ``rehash=False`` only looks at the file's size. ``manifest``, when
    given, is the manifest the caller rebuilt from the database moments ago in the same request (a preview's; the
    deploy path always rebuilds its own)."""
    if purpose not in EvaluationPurpose.values:
        raise ValueError(f"Unknown gate purpose {purpose!r}.")
    started = time.perf_counter()
    release = Release.objects.select_related("model_version__model__team", "environment", "policy_version__policy").get(
        pk=release.pk
    )
    context = GateContext(
        release=release,
        actor=actor,
        purpose=purpose,
        now=now or timezone.now(),
        redeploy=redeploy,
        rehash=rehash,
        artifact=artifact,
        built_manifest=manifest,
    )
    results = [_run_one(name, check, context) for name, check in checks_for(release)]
    try:
        digest = context.current_digest
    except Exception:  # the manifest could not be rebuilt: its check already failed; store what was signed
        digest = release.manifest_digest
    return GateRun(
        release=release,
        purpose=purpose,
        passed=all(result["passed"] for result in results),
        checks=results,
        manifest_digest=digest,
        evaluated_at=context.now,
        duration_ms=(time.perf_counter() - started) * 1000,
        artifact=context.artifact,
    )


@transaction.atomic
def record_gate(run: GateRun, *, actor: Any) -> GateEvaluation:
    """Store a finished run; if it found the artifact corrupted or missing, record that too (registry's
    ``artifact.corrupted``)."""
    evaluation = GateEvaluation(
        release=run.release,
        purpose=run.purpose,
        passed=run.passed,
        checks=run.checks,
        manifest_digest=run.manifest_digest,
        evaluated_at=run.evaluated_at,
        evaluated_by=actor if getattr(actor, "is_authenticated", False) else None,
        duration_ms=run.duration_ms,
    )
    evaluation.full_clean()
    evaluation.save()
    if run.artifact is not None and run.artifact.fault:
        do_record_artifact_corruption(
            run.release.model_version,
            actor=actor,
            detail=f"deployment gate, release {run.release.pk}: {run.artifact.fault}",
        )
    return evaluation


def evaluate_gate(release: Release, *, actor: Any, purpose: str, **options: Any) -> GateEvaluation:
    """Run the gate over ``release`` and store the evaluation (``run_gate`` takes the same options)."""
    return record_gate(run_gate(release, actor=actor, purpose=purpose, **options), actor=actor)
