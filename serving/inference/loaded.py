"""What this inference process serves: per environment and model, the route's deployments with their ONNX Runtime
sessions, swapped in whole when a route changes.

``Routes.refresh`` (a poller thread, every INFERENCE_REFRESH_SECONDS) reads every route's ``revision`` in one
query; only routes whose revision moved are read in full and loaded. Each artifact is read through the artifact
store, which re-hashes the bytes against the approved ``artifact_sha256`` before anything is built from them
(registry.artifacts.read_verified: the bytes checked are the bytes loaded). A mismatch (or a missing file) refuses
the load: the route keeps serving what it served before (nothing, for a new one), ``serving.load_refused`` is
recorded once per deployment and digest found, an ERROR is logged and ``/metrics`` counts it; the load is tried
again every ``RETRY_REFUSED_SECONDS``. A route whose primary is empty (retired) is dropped: its model answers 404.

Requests read ``Routes.snapshot`` once: the whole mapping is replaced, never edited, so a request sees one
consistent set of versions from start to end.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import onnxruntime as ort
from django.db import DatabaseError, connection

from governance.choices import DecisionRecords
from registry.artifacts import ArtifactCorrupted, ArtifactMissing, ArtifactStore
from registry.choices import Classification
from registry.models import ModelVersion
from serving.actions import do_record_load_refused
from serving.decisions import DecisionRule, decision_rule
from serving.inference.contract import Contract
from serving.models import Deployment, Route
from serving.quality import Profile, training_profile

log = logging.getLogger("assay.inference")

RETRY_REFUSED_SECONDS = 30.0
# Training data of these classifications is not copied into prediction logs: only the digest of the inputs is kept.
REDACTED_CLASSIFICATIONS = frozenset({Classification.RESTRICTED})


@dataclass(frozen=True)
class LoadedVersion:
    """One deployment of a route, ready to score."""

    deployment_id: int
    role: str
    traffic_percent: int
    version_id: int
    version_number: int
    artifact_sha256: str
    contract: Contract
    session: Any  # onnxruntime.InferenceSession
    output_names: tuple[str, ...]
    keep_inputs: bool  # False: the training data's classification forbids copying inputs into logs
    decision_records_always: bool  # the release's policy: a durable log (and decision record) before each answer
    interface: dict[str, Any]
    version: ModelVersion  # read once at load; deciding reads no database through it
    profile: Profile  # the training statistics the data quality of each request is judged by
    decision_rule: DecisionRule | None  # None: not explainable (an explain request is answered 409 saying why)

    def run(self, feeds: dict[str, Any]) -> list[Any]:
        return list(self.session.run(list(self.output_names), feeds))


@dataclass(frozen=True)
class LoadedRoute:
    route_id: int
    revision: int
    stamp: tuple[int, Any]  # (revision, changed_at): what the poller compares
    environment_id: int
    environment: str
    model_id: int
    model_name: str
    team_id: int
    team_slug: str
    primary: LoadedVersion
    canary: LoadedVersion | None
    shadow: LoadedVersion | None

    def version(self, number: int) -> LoadedVersion | None:
        """The deployment of this route serving version ``number`` (only versions in the route are served)."""
        for loaded in (self.primary, self.canary, self.shadow):
            if loaded is not None and loaded.version_number == number:
                return loaded
        return None


@dataclass(frozen=True)
class Snapshot:
    """Routes by environment slug, then by model name (and by ``team-slug.name``, always)."""

    environments: dict[str, dict[str, LoadedRoute]] = field(default_factory=dict)

    @classmethod
    def of(cls, routes: list[LoadedRoute]) -> Snapshot:
        environments: dict[str, dict[str, LoadedRoute]] = {}
        plain: dict[tuple[str, str], list[LoadedRoute]] = {}
        for route in routes:
            names = environments.setdefault(route.environment, {})
            names[f"{route.team_slug}.{route.model_name}"] = route
            plain.setdefault((route.environment, route.model_name), []).append(route)
        for (environment, name), sharing in plain.items():
            if len(sharing) == 1:  # two teams' models of one name: only their qualified names find them
                environments[environment][name] = sharing[0]
        return cls(environments)

    def find(self, environment: str, name: str) -> LoadedRoute | None:
        return self.environments.get(environment, {}).get(name)


def _session(data: bytes, threads: int) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])


class LoadRefused(Exception):
    def __init__(self, deployment: Deployment, found: str, reason: str) -> None:
        self.deployment = deployment
        self.found = found
        super().__init__(reason)


class Routes:
    """The routes this process serves and the poller that keeps them current."""

    def __init__(
        self, *, refresh_seconds: float, intra_op_threads: int = 1, store: ArtifactStore | None = None
    ) -> None:
        self.refresh_seconds = refresh_seconds
        self.intra_op_threads = intra_op_threads
        self.store = store
        self.snapshot = Snapshot()
        self.refreshed_at = 0.0  # monotonic time of the last refresh that reached the database
        self.load_refusals = 0
        self.refresh_failures = 0
        self._loaded: dict[int, LoadedRoute] = {}
        self._sessions: dict[str, Any] = {}  # by artifact digest: one session per artifact, shared by routes
        self._reported: set[tuple[int, str]] = set()
        self._refused_until: dict[tuple[int, int], float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- The poller ---

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll, name="inference-routes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _poll(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            self.refresh_safely()
        connection.close()

    def refresh_safely(self) -> None:
        try:
            self.refresh()
        except DatabaseError as error:
            # The database is down: keep serving what is loaded, try again at the next tick.
            self.refresh_failures += 1
            log.warning("inference: routes not refreshed (database unavailable): %s", error)
            connection.close()
        except Exception:
            self.refresh_failures += 1
            log.exception("inference: routes not refreshed")

    def refresh(self) -> None:
        """One query for every route's revision; the routes that moved are read and loaded; then one swap."""
        # The revision and the time of the change: a database restored from a backup may repeat a revision.
        revisions = {
            pk: (revision, changed_at)
            for pk, revision, changed_at in Route.objects.values_list("pk", "revision", "changed_at")
        }
        now = time.monotonic()
        loaded = dict(self._loaded)
        for route_id in set(loaded) - set(revisions):
            del loaded[route_id]
        for route_id, stamp in revisions.items():
            current = loaded.get(route_id)
            if current is not None and current.stamp == stamp:
                continue
            revision = stamp[0]
            key = (route_id, revision)
            if self._refused_until.get(key, 0.0) > now:
                continue
            try:
                fresh = self._load_route(route_id, current)
            except LoadRefused as refused:
                self._refuse(refused, route_id, revision)
                continue
            except DatabaseError:
                raise
            except Exception:
                # A model ONNX Runtime cannot build a session for (it passed validation with another version of
                # it, say): this route keeps what it served, the others load.
                self.load_refusals += 1
                self._refused_until[key] = now + RETRY_REFUSED_SECONDS
                log.exception(
                    "inference: ALERT route %s (revision %s) not loaded; still serving the previous", route_id, revision
                )
                continue
            self._refused_until.pop((route_id, revision), None)
            if fresh is None:
                loaded.pop(route_id, None)  # retired
            else:
                loaded[route_id] = fresh
        self._loaded = loaded
        self.snapshot = Snapshot.of(list(loaded.values()))
        digests = {v.artifact_sha256 for r in loaded.values() for v in (r.primary, r.canary, r.shadow) if v}
        self._sessions = {digest: session for digest, session in self._sessions.items() if digest in digests}
        self.refreshed_at = time.monotonic()

    def _refuse(self, refused: LoadRefused, route_id: int, revision: int) -> None:
        deployment = refused.deployment
        self.load_refusals += 1
        self._refused_until[(route_id, revision)] = time.monotonic() + RETRY_REFUSED_SECONDS
        log.error(
            "inference: ALERT refused to load deployment %s (%s v%s in %s): %s; still serving the previous version",
            deployment.pk,
            deployment.model.name,
            deployment.model_version.number,
            deployment.environment.slug,
            refused,
        )
        key = (deployment.pk, refused.found)
        if key not in self._reported:
            try:
                do_record_load_refused(
                    deployment,
                    expected_sha256=deployment.model_version.artifact_sha256,
                    found=refused.found,
                    reason=str(refused),
                )
            except DatabaseError as error:  # recorded at the next attempt
                log.warning("inference: serving.load_refused not recorded yet: %s", error)
                connection.close()
                return
            self._reported.add(key)

    # --- Loading ---

    def _load_route(self, route_id: int, current: LoadedRoute | None) -> LoadedRoute | None:
        route = Route.objects.select_related("environment", "model__team").filter(pk=route_id).first()
        if route is None or route.primary_id is None:
            return None
        ids = [pk for pk in (route.primary_id, route.canary_id, route.shadow_id) if pk]
        deployments = {
            d.pk: d
            for d in Deployment.objects.select_related(
                "model_version", "release__policy_version", "environment", "model__team"
            ).filter(pk__in=ids)
        }
        previous = (
            {v.deployment_id: v for v in (current.primary, current.canary, current.shadow) if v} if current else {}
        )
        versions = {pk: previous.get(pk) or self._load_version(deployments[pk]) for pk in ids}
        return LoadedRoute(
            route_id=route.pk,
            revision=route.revision,
            stamp=(route.revision, route.changed_at),
            environment_id=route.environment_id,
            environment=route.environment.slug,
            model_id=route.model_id,
            model_name=route.model.name,
            team_id=route.model.team_id,
            team_slug=route.model.team.slug,
            primary=versions[route.primary_id],
            canary=versions[route.canary_id] if route.canary_id else None,
            shadow=versions[route.shadow_id] if route.shadow_id else None,
        )

    def _load_version(self, deployment: Deployment) -> LoadedVersion:
        version = deployment.model_version
        digest = version.artifact_sha256
        session = self._sessions.get(digest)
        if session is None:
            store = self.store or ArtifactStore.default()
            try:
                data = store.read_verified(digest)
            except ArtifactCorrupted as error:
                raise LoadRefused(deployment, error.actual, str(error)) from None
            except ArtifactMissing as error:
                raise LoadRefused(deployment, "missing", str(error)) from None
            session = self._sessions[digest] = _session(data, self.intra_op_threads)
        restricted = version.dataset_versions.filter(dataset__classification__in=REDACTED_CLASSIFICATIONS).exists()
        contract = Contract.of(version.interface)
        return LoadedVersion(
            deployment_id=deployment.pk,
            role=deployment.role,
            traffic_percent=deployment.traffic_percent,
            version_id=version.pk,
            version_number=version.number,
            artifact_sha256=digest,
            contract=contract,
            session=session,
            output_names=tuple(spec.name for spec in contract.outputs),
            keep_inputs=not restricted,
            decision_records_always=deployment.release.policy_version.decision_records == DecisionRecords.ALWAYS,
            interface=version.interface,
            version=version,
            profile=training_profile(version),
            decision_rule=decision_rule(version),
        )
