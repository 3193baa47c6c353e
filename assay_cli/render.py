"""Human-readable output: short, stable lines that read well in a CI log."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any


def emit(args: argparse.Namespace, data: Any, human: Callable[[], str]) -> None:
    """``data`` as JSON with ``--json``, else the human lines ``human()`` makes."""
    print(json.dumps(data, indent=2, sort_keys=True) if getattr(args, "json", False) else human())


def refusal(status: int, message: str, fields: Mapping[str, Any]) -> list[str]:
    """A server's refusal: its sentence and its field errors. A field error that only repeats the sentence (a
    refusal naming one field says the same thing twice in its body) names its field in the first line instead."""
    named = ""
    rest: list[str] = []
    for line in field_errors(fields):
        field, _, text = line.partition(": ")
        if text == message and not named:
            named = f"{field}: "
        else:
            rest.append(line)
    return [f"refused ({status}): {named}{message}", *rest]


def field_errors(fields: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``{"schema": ["..."], "kpis": {"0": {"name": ["..."]}}}`` as ``schema: ...`` and ``kpis.0.name: ...``."""
    lines: list[str] = []
    for key, value in fields.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            lines += field_errors(value, f"{name}.")
        elif isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    lines += field_errors(item, f"{name}.{index}.")
                elif item:
                    lines.append(f"{name}.{index}: {item}")
        elif isinstance(value, list):
            lines += [f"{name}: {item}" for item in value]
        else:
            lines.append(f"{name}: {value}")
    return lines


def whoami(me: Mapping[str, Any], url: str) -> str:
    lines = [f"{me['username']} (user #{me['id']}) on {url}"]
    if me.get("is_superuser"):
        lines.append("  platform administrator")
    if me.get("is_service_account"):
        lines.append("  service account")
    for membership in me.get("memberships") or []:
        board = f" ({membership['board_role']})" if membership.get("board_role") else ""
        lines.append(f"  {membership['team']}: {membership['role']}{board}")
    if not me.get("memberships"):
        lines.append("  no team memberships")
    return "\n".join(lines)


def dataset(data: Mapping[str, Any], *, created: bool) -> str:
    verb = "Created" if created else "Reusing existing"
    latest = data.get("latest_version")
    return "\n".join(
        [
            f"{verb} dataset {data['name']!r} (id {data['id']}, team {data['team']})",
            f"  format {data['storage_format']}, location {data['location']}",
            f"  classification {data['classification']}, legal basis {data['legal_basis']}"
            + (f", residency {data['residency_region']}" if data.get("residency_region") else ""),
            f"  latest version: {latest if latest is not None else 'none yet'}",
        ]
    )


def dataset_version(data: Mapping[str, Any], parent: Mapping[str, Any]) -> str:
    columns = (data.get("schema") or {}).get("columns") or []
    personal = [column["name"] for column in columns if column.get("personal_data")]
    lines = [
        f"Registered {parent['name']!r} version {data['number']} (dataset {data['dataset']}, team {parent['team']})",
        f"  train a model on it: assay model version ... --dataset-version {data['dataset']}:{data['number']}",
        f"  columns: {len(columns)}" + (f" (personal data: {', '.join(personal)})" if personal else ""),
        f"  schema fingerprint:  {data['schema_fingerprint']}",
        f"  content fingerprint: {data['content_fingerprint']} ({data['fingerprint_source']})",
    ]
    if data.get("row_count") is not None:
        lines.append(f"  rows: {data['row_count']}")
    lines += evolution(data.get("evolution") or {}, data["number"], data.get("breaking_change", False))
    return "\n".join(lines)


def evolution(report: Mapping[str, Any], number: int, allowed_breaking: bool) -> list[str]:
    changes = report.get("changes") or []
    if number == 1:
        return ["Schema evolution: first version, nothing to compare."]
    if not changes:
        return [f"Schema evolution against version {number - 1}: no change."]
    if report.get("breaking"):
        verdict = "BREAKING (registered with --allow-breaking-change)" if allowed_breaking else "BREAKING"
    else:
        verdict = "compatible"
    lines = [f"Schema evolution against version {number - 1}: {verdict}"]
    for change in changes:
        mark = "compatible" if change.get("compatible") else "BREAKING  "
        review = "  [needs review]" if change.get("needs_review") else ""
        lines.append(f"  {mark}  {change.get('kind')}  {change.get('column')}: {change.get('detail')}{review}")
    if report.get("needs_review"):
        lines.append("  A privacy protection was removed: a compliance officer should confirm it.")
    return lines


def model(data: Mapping[str, Any], *, created: bool) -> str:
    verb = "Created" if created else "Reusing existing"
    latest = data.get("latest_version")
    lines = [f"{verb} model {data['name']!r} (id {data['id']}, team {data['team']})"]
    if data.get("tags"):
        lines.append(f"  tags: {', '.join(data['tags'])}")
    if data.get("use_case"):
        lines.append(f"  use case: {data['use_case']}")
    lines.append(f"  latest version: {latest if latest is not None else 'none yet'}")
    return "\n".join(lines)


def _shape(shape: Any) -> str:
    if shape is None:
        return "-"
    return "[" + ", ".join("?" if dim is None else str(dim) for dim in shape) + "]"


def model_version(data: Mapping[str, Any], dataset_labels: Mapping[int, str] | None = None) -> str:
    """``dataset_labels`` names the dataset versions (``customers v1``) by id, as the command resolved them."""
    interface = data.get("interface") or {}
    lines = [
        f"Registered {data['model_name']!r} version {data['number']} (model {data['model']}, team {data['team']})",
        f"  status: {data['status']}",
        f"  sha256: {data['artifact_sha256']}",
        f"  size:   {data['artifact_size']} bytes ({data.get('artifact_filename') or 'unnamed'})",
        f"  id:     {data['id']} (release it: assay release request --model-version {data['id']} --environment ENV)",
    ]
    if data.get("dataset_versions"):
        labels = dataset_labels or {}
        named = [labels.get(item) or f"dataset version id {item}" for item in data["dataset_versions"]]
        lines.append(f"  trained on: {', '.join(named)}")
    if data.get("metrics"):
        lines.append(f"  metrics: {_flat(data['metrics'])}")
    lines.append("Interface contract:")
    for direction in ("inputs", "outputs"):
        for value in interface.get(direction) or []:
            lines.append(
                f"  {direction[:-1]:<6}  {value.get('name')}  {value.get('kind', '')} "
                f"{value.get('elem_type')} {_shape(value.get('shape'))}"
            )
    opsets = interface.get("opset_imports") or []
    if opsets:
        lines.append("  opsets: " + ", ".join(f"{item['domain']} {item['version']}" for item in opsets))
    return "\n".join(lines)


def _flat(metrics: Mapping[str, Any], prefix: str = "") -> str:
    parts = []
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            parts.append(_flat(value, f"{prefix}{key}."))
        else:
            parts.append(f"{prefix}{key}={value}")
    return ", ".join(parts)


def version_list(versions: list[Mapping[str, Any]]) -> str:
    if not versions:
        return "No versions yet."
    # ID is what `assay release request --model-version` takes; VERSION is the number within the model.
    rows = [("VERSION", "ID", "STATUS", "SHA256", "SIZE", "CREATED", "BY")]
    for item in versions:
        rows.append(
            (
                str(item["number"]),
                str(item["id"]),
                item["status"],
                item["artifact_sha256"][:16],
                str(item["artifact_size"]),
                str(item["created_at"])[:19].replace("T", " "),
                item.get("created_by") or "",
            )
        )
    return table(rows)


def status_change(data: Mapping[str, Any]) -> str:
    transitions = data.get("transitions") or []
    last = transitions[-1] if transitions else {}
    return f"{data['model_name']!r} version {data['number']}: {last.get('from_status', '?')} -> {data['status']}" + (
        f" (by {last['actor']}: {last['reason']})" if last.get("actor") else ""
    )


def download(data: Mapping[str, Any], path: Any) -> str:
    return (
        f"Downloaded {data['model_name']!r} version {data['number']} to {path}\n"
        f"  sha256: {data['artifact_sha256']} (checked)\n"
        f"  size:   {data['artifact_size']} bytes, status {data['status']}"
    )


# --- Keys and releases (signing.py) -------------------------------------------------------------------------------


def _when(value: Any) -> str:
    return str(value)[:19].replace("T", " ") if value else "-"


def generated_key(data: Mapping[str, Any]) -> str:
    protection = "encrypted with ASSAY_KEY_PASSPHRASE" if data["encrypted"] else "unencrypted, readable by you only"
    return "\n".join(
        [
            f"Private key: {data['private_key_file']} (mode 0600, {protection}). Keep it; it is never sent.",
            f"Public key:  {data['public_key_file']}",
            f"Fingerprint: {data['fingerprint']}",
            "",
            data["public_key"].rstrip(),
            data["openssh"],
            "",
            f"Register it: assay key register --public-key {data['public_key_file']}",
        ]
    )


def signing_key(data: Mapping[str, Any], verb: str) -> str:
    lines = [f"{verb} signing key {data.get('id', '?')}: {data.get('fingerprint', '?')}"]
    details = [
        f"owner {data['owner']}" if data.get("owner") else "",
        f"kind {data['kind']}" if data.get("kind") else "",
    ]
    if data.get("name"):
        details.append(f"name {data['name']!r}")
    if any(details):
        lines.append("  " + ", ".join(item for item in details if item))
    if data.get("revoked_at"):
        lines.append(f"  revoked {_when(data['revoked_at'])}: {data.get('revocation_reason') or ''}")
    return "\n".join(lines)


def table(rows: Sequence[tuple[str, ...]]) -> str:
    """Rows of cells in left-aligned columns, the first row as the heading."""
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def signing_keys(items: Sequence[Mapping[str, Any]]) -> str:
    if not items:
        return "No signing keys yet: assay key generate, then assay key register."
    rows = [("ID", "FINGERPRINT", "KIND", "NAME", "CREATED", "REVOKED")]
    for item in items:
        rows.append(
            (
                str(item.get("id", "")),
                str(item.get("fingerprint", "")),
                str(item.get("kind", "")),
                str(item.get("name") or ""),
                _when(item.get("created_at")),
                _when(item.get("revoked_at")) if item.get("revoked_at") else "",
            )
        )
    return table(rows)


def release(data: Mapping[str, Any], verb: str) -> str:
    """A release as the API serves it: what, where, who asked, and (in the detail) whether it is approved now."""
    head = f"{verb} release" if verb else "Release"
    lines = [
        f"{head} {data.get('id', '?')}: {data.get('team', '?')}/{data.get('model_name', '?')} "
        f"v{data.get('version_number', '?')} to {data.get('environment', '?')} ({data.get('status', '?')})"
    ]
    lines.append(f"  requested by {data.get('requested_by') or '?'} at {_when(data.get('requested_at'))}")
    if data.get("manifest_digest"):
        lines.append(f"  manifest digest: {data['manifest_digest']}")
    state = data.get("release_state")
    if isinstance(state, Mapping):
        if state.get("manifest_changed"):
            lines.append(f"  the manifest changed since the request: now {state.get('current_digest')}")
        verdict = "APPROVED" if state.get("approved") else "rejected" if state.get("rejected") else "not approved yet"
        lines.append(f"  {verdict}: {state.get('summary', '')}")
        for item in state.get("approvals") or []:
            counted = "counts" if item.get("counts") else "does not count: " + "; ".join(item.get("reasons") or [])
            lines.append(f"    {item.get('decision')} by {item.get('signer')} ({item.get('board_role')}), {counted}")
    lines.append(f"  next: {release_next_step(data)}")
    return "\n".join(lines)


def release_next_step(data: Mapping[str, Any]) -> str:
    """What the release waits for, given its status and (in the detail) ``release_state``."""
    release_id = data.get("id", "ID")
    status = data.get("status")
    if status == "deployed":
        return f"nothing: it is deployed. Export its evidence: assay release bundle {release_id} --out release.json"
    if status == "withdrawn":
        return "nothing: it was withdrawn and can be neither signed nor deployed; request a new release."
    sign = f"assay release sign {release_id} --key KEY --role ROLE --decision approve"
    state = data.get("release_state")
    if not isinstance(state, Mapping):  # a new request: nobody has signed yet
        return f"the board members the policy names sign it: {sign}"
    if state.get("approved"):
        return f"deploy it: assay release deploy {release_id} --idempotency-key KEY"
    if state.get("rejected"):
        return "none while a rejection counts: it vetoes the release, which cannot be deployed."
    roles = state.get("roles_needed") or {}
    wanted = [f"{role} ({count} more)" for role, count in sorted(roles.items())]
    beyond_roles = int(state.get("approvers_needed") or 0) - sum(roles.values())
    if beyond_roles > 0:  # the policy's minimum of distinct approvers asks for more than the roles do
        wanted.append(f"{beyond_roles} more in any role")
    needed = f" from {', '.join(wanted)}" if wanted else ""
    return f"approvals{needed}: {sign}"


def signed(stored: Any, answer: Mapping[str, Any], release_id: int, decision: str, role: str, key: str) -> str:
    approval_id = stored.get("id", "?") if isinstance(stored, Mapping) else "?"
    return "\n".join(
        [
            f"Signed: {decision} of release {release_id} as {role} (approval {approval_id})",
            f"  release:  {answer['release']} (the id the signature binds)",
            f"  subject:  {answer['subject_name']} sha256 {answer['artifact']['sha256']}",
            f"  manifest: {answer['manifest_digest']} (recomputed here before signing)",
            f"  key:      {key}",
        ]
    )


def deployed(data: Any, release_id: int) -> str:
    if not isinstance(data, Mapping):
        return f"Deployed release {release_id}."
    return (
        f"Deployed release {release_id}: {data.get('model_name', '?')} to {data.get('environment', '?')} "
        f"(deployment {data.get('id', '?')}, gate evaluation {data.get('gate_evaluation', '?')})\n"
        f"  artifact sha256 {data.get('artifact_sha256', '?')}, by {data.get('deployed_by', '?')} at "
        f"{_when(data.get('deployed_at'))}"
    )


def bundle_written(bundle: Mapping[str, Any], release_id: int, path: Path) -> str:
    release = bundle["release"]
    return (
        f"Wrote the bundle of release {release_id} (uid {release['id']}; {release['model']} v{release['version']} to "
        f"{release['environment']}, {len(bundle['approvals'])} approvals) to {path}\n"
        f"  verify it anywhere: assay verify-release {path} --artifact <model.onnx>"
    )


def checks(items: Sequence[Any], passed: bool) -> str:
    lines = [f"{'PASS' if item.passed else 'FAIL'} {item.name}: {item.detail}" for item in items]
    failed = sum(1 for item in items if not item.passed)
    lines.append(
        f"Verified: all {len(items)} checks passed."
        if passed
        else f"NOT verified: {failed} of {len(items)} checks failed."
    )
    return "\n".join(lines)


def trial_deployed(data: Any, release_id: int) -> str:
    if not isinstance(data, Mapping):
        return f"Deployed release {release_id}."
    share = f"{data.get('traffic_percent')}% of the requests" if data.get("role") == "canary" else "no requests"
    return (
        f"Deployed release {release_id} as a {data.get('role', '?')}: {data.get('model_name', '?')} "
        f"v{data.get('model_version', '?')} in {data.get('environment', '?')} answers {share} beside the primary "
        f"(deployment {data.get('id', '?')}, gate evaluation {data.get('gate_evaluation', '?')})\n"
        f"  compare it on the web: /environments/{data.get('environment')}/models/{data.get('model', '?')}/compare/"
    )


def route_deployment(done: str, data: Mapping[str, Any]) -> str:
    return (
        f"{done}: {data.get('model_name', '?')} in {data.get('environment', '?')} serves v{data.get('model_version')} "
        f"of release {data.get('release')} as its primary (deployment {data.get('id')}, gate evaluation "
        f"{data.get('gate_evaluation')}).\n  The inference service picks it up within seconds."
    )


def _served(item: Any, extra: str = "") -> str:
    if not isinstance(item, Mapping):
        return "-"
    return f"v{item.get('model_version')} (release {item.get('release')}{extra})"


def route_list(routes: Sequence[Any]) -> str:
    if not routes:
        return "Nothing is deployed there."
    rows = [("ENVIRONMENT", "MODEL", "PRIMARY", "CANARY", "SHADOW", "REV")]
    for route in routes:
        canary = route.get("canary")
        share = f", {canary.get('traffic_percent')}%" if isinstance(canary, Mapping) else ""
        rows.append(
            (
                str(route.get("environment", "?")),
                f"{route.get('team', '?')}/{route.get('model_name', '?')}",
                _served(route.get("primary")) if route.get("primary") else "retired",
                _served(canary, share),
                _served(route.get("shadow")),
                str(route.get("revision")),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)), row[5]]) for row in rows
    )
