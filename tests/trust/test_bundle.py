"""verify_bundle: a valid bundle passes every check; each way of breaking it fails the check that names it."""

from __future__ import annotations

import base64
import datetime
import json

import pytest

from assay_trust.bundle import Check, validate_bundle_shape, verify_bundle
from assay_trust.canonical import canonical_digest
from assay_trust.dsse import sign_envelope
from assay_trust.errors import BundleFormatError, TrustError
from tests.trust.bundles import ARTIFACT, EXPORTED, Reviewer, SignedRelease, approval_for, statement_for

UTC = datetime.UTC


@pytest.fixture
def release() -> SignedRelease:
    return SignedRelease()


def verdicts(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def failed(checks: list[Check]) -> list[str]:
    return [check.name for check in checks if not check.passed]


def test_a_valid_bundle_passes_every_check(release: SignedRelease, tmp_path) -> None:
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(ARTIFACT)

    checks = verify_bundle(release.bundle(), artifact_path=artifact)

    assert failed(checks) == []
    names = [check.name for check in checks]
    assert names[:5] == ["bundle shape", "manifest digest", "manifest artifact", "policy", "public keys"]
    assert names[-2:] == ["quorum", "artifact file"]
    assert "approval 1 (lena-legal, legal) signature" in names
    assert "approval 2 (theo-technical, technical) validity" in names
    assert verdicts(checks)["quorum"].detail.startswith("met: 2 of 2 approvers")


def test_the_bundle_survives_a_json_round_trip(release: SignedRelease) -> None:
    assert failed(verify_bundle(json.loads(json.dumps(release.bundle())))) == []


# --- Shape --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b.pop("policy"), "bundle: missing policy"),
        (lambda b: b.update(extra=1), "bundle: unexpected extra"),
        (lambda b: b.update(kind="something"), "kind: expected assay.release-bundle"),
        (lambda b: b.update(bundle_version=2), "reads version 1 only"),
        (lambda b: b.update(bundle_version=True), "reads version 1 only"),
        (lambda b: b.update(exported_at="yesterday"), "exported_at: not an RFC 3339 time"),
        (lambda b: b.update(exported_at="2026-03-03T12:00:00"), "exported_at: the time must carry its offset"),
        (lambda b: b["release"].pop("model"), "release: missing model"),
        (lambda b: b["release"].update(model="no team"), "release.model: expected <team>/<model name>"),
        (lambda b: b["release"].update(version=0), "release.version"),
        (lambda b: b.update(manifest=[]), "manifest: expected an object"),
        (lambda b: b.update(manifest_digest="xyz"), "manifest_digest: expected 64 lower-case hex"),
        (lambda b: b["artifact"].update(size=-1), "artifact.size"),
        (lambda b: b["policy"]["requirements"].update(min_total=0), "min_total"),
        (lambda b: b["policy"]["requirements"]["roles"].update(chief=1), "'chief' is not a board role"),
        (lambda b: b["policy"]["requirements"].update(checks="quorum"), "checks: expected a list"),
        (lambda b: b.update(approvals={}), "approvals: expected a list"),
        (lambda b: b["approvals"][0].update(extra=1), "approvals\\[0\\]: unexpected extra"),
        (lambda b: b["approvals"][0].update(envelope="x"), "approvals\\[0\\].envelope: expected an object"),
        (lambda b: b["approvals"][1].update(board_role="chief"), "approvals\\[1\\].board_role"),
        (lambda b: b["approvals"][0].update(key="lena"), "approvals\\[0\\].key"),
        (lambda b: b["public_keys"].append(b["public_keys"][0]), "public_keys\\[2\\].fingerprint: listed twice"),
        (lambda b: b["public_keys"][0].update(revoked_at="soon"), "public_keys\\[0\\].revoked_at"),
        (lambda b: b.update(deployment=[]), "deployment: expected an object or null"),
    ],
)
def test_a_malformed_bundle_fails_only_the_shape_check(release: SignedRelease, change, message: str) -> None:
    bundle = release.bundle()
    change(bundle)
    with pytest.raises(BundleFormatError, match=message):
        validate_bundle_shape(bundle)
    checks = verify_bundle(bundle)
    assert [(check.name, check.passed) for check in checks] == [("bundle shape", False)]


@pytest.mark.parametrize("value", [None, [], "bundle", 1])
def test_a_bundle_is_an_object(value: object) -> None:
    assert verify_bundle(value) == [Check("bundle shape", False, "bundle: expected an object")]


def test_build_bundle_refuses_what_verify_would(release: SignedRelease) -> None:
    with pytest.raises(BundleFormatError, match="release: missing"):
        release.bundle(release={"id": "x"})


# --- The manifest and the artifact --------------------------------------------------------------------------------


def test_an_edited_manifest_fails_the_digest(release: SignedRelease) -> None:
    bundle = release.bundle()
    bundle["manifest"]["datasets"][0]["version"] = 3

    checks = verdicts(verify_bundle(bundle))

    assert not checks["manifest digest"].passed
    assert "the manifest hashes to" in checks["manifest digest"].detail


def test_a_manifest_digest_replaced_to_match_breaks_every_signature_binding(release: SignedRelease) -> None:
    bundle = release.bundle()
    bundle["manifest"]["datasets"][0]["version"] = 3
    bundle["manifest_digest"] = canonical_digest(bundle["manifest"])

    checks = verify_bundle(bundle)

    assert failed(checks) == [
        "approval 1 (lena-legal, legal) statement",
        "approval 2 (theo-technical, technical) statement",
        "quorum",
    ]
    assert "it signed another manifest digest" in verdicts(checks)["approval 1 (lena-legal, legal) statement"].detail


def test_a_manifest_of_another_artifact_fails(release: SignedRelease) -> None:
    bundle = release.bundle()
    bundle["manifest"]["artifact"]["sha256"] = "00" * 32
    bundle["manifest_digest"] = canonical_digest(bundle["manifest"])
    assert "manifest artifact" in failed(verify_bundle(bundle))

    bundle["manifest"].pop("artifact")
    bundle["manifest_digest"] = canonical_digest(bundle["manifest"])
    assert "the manifest names no artifact" in verdicts(verify_bundle(bundle))["manifest artifact"].detail


def test_a_replaced_artifact_fails_the_statements(release: SignedRelease) -> None:
    bundle = release.bundle()
    bundle["artifact"]["sha256"] = "00" * 32
    checks = verdicts(verify_bundle(bundle))
    assert not checks["manifest artifact"].passed
    assert (
        "its subject digest is not the bundle's artifact" in checks["approval 1 (lena-legal, legal) statement"].detail
    )


def test_the_artifact_file_is_rehashed(release: SignedRelease, tmp_path) -> None:
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(ARTIFACT[:-1] + b"\x00")
    check = verify_bundle(release.bundle(), artifact_path=artifact)[-1]
    assert check.name == "artifact file"
    assert not check.passed
    assert "not the approved" in check.detail

    missing = verify_bundle(release.bundle(), artifact_path=tmp_path / "absent.onnx")[-1]
    assert not missing.passed
    assert "cannot read" in missing.detail


# --- The policy ---------------------------------------------------------------------------------------------------


def test_a_policy_for_another_environment_fails(release: SignedRelease) -> None:
    bundle = release.bundle()
    bundle["policy"]["environment"] = "staging"
    assert failed(verify_bundle(bundle)) == ["policy"]


def test_a_stricter_policy_than_the_approvals_fails_the_quorum(release: SignedRelease) -> None:
    bundle = release.bundle()
    bundle["policy"]["requirements"]["roles"]["privacy"] = 1
    checks = verify_bundle(bundle)
    assert failed(checks) == ["quorum"]
    assert "missing 1 privacy" in checks[-1].detail


# --- Each approval ------------------------------------------------------------------------------------------------

LENA = "approval 1 (lena-legal, legal)"


def test_a_tampered_payload_fails_the_signature(release: SignedRelease) -> None:
    bundle = release.bundle()
    envelope = bundle["approvals"][0]["envelope"]
    payload = base64.b64decode(envelope["payload"]).replace(b'"approve"', b'"reject"')
    envelope["payload"] = base64.b64encode(payload).decode()

    checks = verdicts(verify_bundle(bundle))

    assert not checks[f"{LENA} signature"].passed
    assert "does not verify" in checks[f"{LENA} signature"].detail
    assert checks[f"{LENA} statement"].detail == "not checked: the signature did not verify"
    assert not checks["quorum"].passed


def test_another_payload_type_fails(release: SignedRelease) -> None:
    bundle = release.bundle()
    bundle["approvals"][0]["envelope"]["payloadType"] = "application/vnd.in-toto+json"
    assert "payload type is not" in verdicts(verify_bundle(bundle))[f"{LENA} signature"].detail


def test_a_malformed_envelope_fails_its_approval_only(release: SignedRelease) -> None:
    bundle = release.bundle()
    bundle["approvals"][0]["envelope"]["signatures"][0]["sig"] = "%%%"
    checks = verify_bundle(bundle)
    assert failed(checks) == [f"{LENA} signature", f"{LENA} statement", "quorum"]
    assert "sig: not base64" in verdicts(checks)[f"{LENA} signature"].detail


def test_a_signature_by_an_unlisted_key_fails(release: SignedRelease) -> None:
    bundle = release.bundle()
    bundle["public_keys"] = bundle["public_keys"][1:]
    checks = verdicts(verify_bundle(bundle))
    assert "is not among the bundle's usable public keys" in checks[f"{LENA} signature"].detail
    assert not checks[f"{LENA} key status"].passed


def test_a_public_key_swapped_for_another_fails(release: SignedRelease) -> None:
    bundle = release.bundle()
    bundle["public_keys"][0]["public_key"] = bundle["public_keys"][1]["public_key"]
    checks = verdicts(verify_bundle(bundle))
    assert not checks["public keys"].passed
    assert "the key's fingerprint is" in checks["public keys"].detail
    assert not checks[f"{LENA} signature"].passed


def test_an_approval_signed_with_another_users_key_fails(release: SignedRelease) -> None:
    """Theo signs a legal approval in Lena's name with his own key: the key is not Lena's."""
    impostor = Reviewer("lena-legal", "legal", key=release.technical.key)
    bundle = release.bundle()
    bundle["approvals"][0] = signed_approval(impostor)
    checks = verdicts(verify_bundle(bundle))
    assert "belongs to theo-technical, not the signer" in checks[f"{LENA} signature"].detail


def test_an_envelope_keyid_that_differs_from_the_listing_fails(release: SignedRelease) -> None:
    bundle = release.bundle()
    bundle["approvals"][0]["key"] = release.technical.fingerprint
    assert (
        "the envelope's keyid is not the approval's key" in verdicts(verify_bundle(bundle))[f"{LENA} signature"].detail
    )


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"release_id": "another-release"}, "it is about another release"),
        ({"manifest_digest": "00" * 32}, "it signed another manifest digest"),
        ({"artifact_sha256": "00" * 32}, "its subject digest is not the bundle's artifact"),
        ({"subject_name": "credit-risk/Other model@v3"}, "its subject name is not the release's model version"),
        ({"subject_name": "credit-risk/Churn scorer@v2"}, "its subject name is not the release's model version"),
        ({"signer_username": "theo-technical"}, "its signer is not the approval's signer"),
        ({"board_role": "risk"}, "its board role is not the approval's board role"),
        ({"signer_key": "sha256:" + "00" * 32}, "it names another key than the one that signed"),
    ],
)
def test_a_statement_about_something_else_fails(release: SignedRelease, overrides: dict, problem: str) -> None:
    """A genuine signature, replayed from another release, manifest, artifact or role, binds the wrong thing."""
    bundle = release.bundle()
    bundle["approvals"][0] = signed_approval(release.legal, **overrides)
    checks = verdicts(verify_bundle(bundle))
    assert checks[f"{LENA} signature"].passed
    assert not checks[f"{LENA} statement"].passed
    assert problem in checks[f"{LENA} statement"].detail
    assert not checks["quorum"].passed


def signed_approval(reviewer: Reviewer, **overrides) -> dict:
    approval = approval_for(reviewer, **overrides)
    approval["received_at"] = approval["received_at"].isoformat()
    return approval


def test_a_non_canonical_statement_fails(release: SignedRelease) -> None:
    bundle = release.bundle()
    payload = json.dumps(statement_for(release.legal), indent=1).encode()
    bundle["approvals"][0]["envelope"] = sign_envelope(
        release.legal.key, bundle["approvals"][0]["envelope"]["payloadType"], payload
    )
    checks = verdicts(verify_bundle(bundle))
    assert checks[f"{LENA} signature"].passed
    assert "payload is not canonical" in checks[f"{LENA} statement"].detail


def test_a_key_revoked_before_the_moment_judged_fails(release: SignedRelease) -> None:
    revoked = datetime.datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    bundle = release.bundle(
        public_keys=[release.legal.public_entry(revoked, "laptop stolen"), release.technical.public_entry()]
    )

    checks = verdicts(verify_bundle(bundle))
    assert not checks[f"{LENA} key status"].passed
    assert checks[f"{LENA} key status"].detail == "key revoked at 2026-03-03T08:00:00Z (laptop stolen)"
    assert not checks["quorum"].passed

    # Judged at a moment before the revocation (say, the deployment), the approval counted.
    before = verify_bundle(bundle, at=datetime.datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    assert failed(before) == []


def test_a_key_registered_after_the_approval_fails(release: SignedRelease) -> None:
    release.legal.key_created = datetime.datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    checks = verdicts(verify_bundle(release.bundle()))
    assert checks[f"{LENA} key status"].detail == "the key was registered after the approval"


def test_an_expired_approval_fails_its_validity(release: SignedRelease) -> None:
    later = EXPORTED + datetime.timedelta(days=40)
    checks = verdicts(verify_bundle(release.bundle(), at=later))
    assert not checks[f"{LENA} validity"].passed
    assert "expired after 30 days" in checks[f"{LENA} validity"].detail
    assert not checks["quorum"].passed


def test_an_approval_received_after_the_moment_judged_fails(release: SignedRelease) -> None:
    earlier = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    checks = verdicts(verify_bundle(release.bundle(), at=earlier))
    assert "after 2026-03-02T10:00:00Z" in checks[f"{LENA} validity"].detail


def test_the_claimed_signing_time_is_not_what_counts(release: SignedRelease) -> None:
    """A statement claiming it was signed years ago (or in the future) changes nothing: received_at decides."""
    bundle = release.bundle()
    bundle["approvals"][0] = signed_approval(release.legal, signed_at="2031-01-01T00:00:00Z")
    bundle["approvals"][1] = signed_approval(release.technical, signed_at="2001-01-01T00:00:00Z")
    assert failed(verify_bundle(bundle)) == []


def test_a_reject_vetoes_in_the_bundle(release: SignedRelease) -> None:
    risk = Reviewer("rosa-risk", "risk")
    bundle = release.bundle()
    bundle["approvals"].append(signed_approval(risk, decision="reject"))
    bundle["public_keys"].append({**risk.public_entry(), "created_at": "2026-01-01T00:00:00Z"})
    checks = verify_bundle(bundle)
    assert failed(checks) == ["quorum"]
    assert "rejected by rosa-risk (risk)" in checks[-1].detail


def test_one_person_in_two_roles_does_not_make_a_quorum(release: SignedRelease) -> None:
    """Lena holds both legal and technical and signs twice with her key: still one person."""
    lena_technical = Reviewer("lena-legal", "technical", key=release.legal.key)
    bundle = release.bundle()
    bundle["approvals"][1] = signed_approval(lena_technical)
    checks = verify_bundle(bundle)
    assert failed(checks) == ["quorum"]
    assert "1 of 2 approvers" in checks[-1].detail


def test_a_naive_moment_is_refused(release: SignedRelease) -> None:
    with pytest.raises(TrustError, match="time zone"):
        verify_bundle(release.bundle(), at=datetime.datetime(2026, 3, 3))
