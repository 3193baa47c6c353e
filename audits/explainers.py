"""The local explainer of a model version, built once per web process and kept (docs/audits.md, "Local explanations
and the statement of reasons").

A local explanation is on the path of a decision, so its explainer is not built per request: it is built from the
version's newest explanation report whose artifact digest is the version's (its background values, seed, method and
sampling budget: what the board reviewed, no data read on a web node) and the verified artifact bytes, then cached in
a bounded LRU keyed by (model version, artifact digest, report digest). A newer report, or another version, is
another key: a stale explainer is never reused, and the old one ages out.

The first requests for a key share one build (a future per key, created under the cache's lock; the others wait on
it). The build runs in a thread of its own and a request waits for it at most ``EXPLAIN_BUILD_WAIT_SECONDS`` (at most
half the web timeout, check assay.E012), then is answered 503 with Retry-After while the build goes on: a request
cannot outlive gunicorn's worker timeout however slow the build. The slow part of a first build in a process is
numba compiling shap's permutation code (7 to 15 s measured on the 2-core development machine); ``warm_in_background``,
called by gunicorn.conf.py when a worker starts, compiles it on a tiny model in the background, after which a
permutation build takes tens of milliseconds.

shap and pandas are imported by audits.pipelines.explain inside its functions: importing this module at start-up
loads neither (tests/test_installs.py).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings

from audits.choices import AuditKind
from audits.models import AuditReport
from audits.pipelines.explain import DEFAULT_MAX_EVALS, ExplainError, OnnxExplainer, build_explainer
from core.refusals import Busy
from registry import artifacts
from registry.models import ModelVersion

logger = logging.getLogger(__name__)

# A request that found the explainer still being built is told to come back after this many seconds.
RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class LocalExplainer:
    """An explainer of one model version built from one explanation report: ``report_id``/``report_digest`` name
    the report, ``background`` its sample (dataset version, rows, seed; not the values)."""

    model_version_id: int
    artifact_sha256: str
    report_id: int
    report_digest: str
    background: dict[str, Any]
    explainer: OnnxExplainer


Key = tuple[int, str, str]


class ExplainerCache:
    """A bounded LRU of explainers being built or built, one per key; one build per key however many ask at once."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.entries: OrderedDict[Key, Future[LocalExplainer]] = OrderedDict()
        self.builds = 0  # how many builds this cache started (read by the tests and the benchmark)

    def get(self, key: Key, prepare: Callable[[], Callable[[], LocalExplainer]], *, wait: float) -> LocalExplainer:
        """The explainer of ``key``. Only when no one has built or is building it, ``prepare`` runs in the caller's
        thread (it reads what the build needs: the database) and the build it returns runs in a thread of its own.
        ``Busy`` when the explainer is not ready within ``wait`` seconds; the build's own error when it failed (and
        the next request tries again)."""
        with self.lock:
            future = self.entries.get(key)
            if future is not None:
                self.entries.move_to_end(key)
        if future is None:
            build = prepare()  # outside the lock: it may read the database
            with self.lock:
                future = self.entries.get(key)  # another request may have started the build meanwhile
                if future is None:
                    future = Future()
                    self.entries[key] = future
                    self.builds += 1
                    while len(self.entries) > self.size:
                        self.entries.popitem(last=False)
                    threading.Thread(target=self.run, args=(key, future, build), daemon=True, name="explainer").start()
        try:
            return future.result(timeout=wait)
        except FutureTimeout:
            raise Busy(
                "The explainer of this model version is being built (its first use in this web process); "
                f"retry in {RETRY_AFTER_SECONDS} seconds.",
                retry_after=RETRY_AFTER_SECONDS,
            ) from None

    def run(self, key: Key, future: Future[LocalExplainer], build: Callable[[], LocalExplainer]) -> None:
        try:
            future.set_result(build())
        except BaseException as error:
            with self.lock:
                if self.entries.get(key) is future:
                    del self.entries[key]  # a failed build is not kept: the next request tries again
            future.set_exception(error)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


CACHE = ExplainerCache(settings.EXPLAIN_CACHE_SIZE)


def explanation_report(version: ModelVersion) -> AuditReport | None:
    """The version's newest explanation report of its own artifact (any verdict), or None. Its ``results`` (the
    background and the global figures) are read only when an explainer is built from it (``build_local``)."""
    return (
        AuditReport.objects.filter(
            model_version=version, kind=AuditKind.EXPLANATION, artifact_sha256=version.artifact_sha256
        )
        .defer("results")
        .order_by("-created_at", "-pk")
        .first()
    )


def background_of(report: AuditReport, features: list[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """The report's background as a float matrix in ``features`` order (null is NaN), and what describes it;
    ``ExplainError`` when its columns are not the model's."""
    given = (report.results or {}).get("background") or {}
    names = [str(name) for name in given.get("features") or []]
    if [name.casefold() for name in names] != [name.casefold() for name in features]:
        raise ExplainError(
            f"The explanation report {report.pk}'s background columns ({', '.join(names) or 'none'}) do not match the "
            f"model's features ({', '.join(features)}): request a new explanation audit of this version."
        )
    values = [[np.nan if value is None else float(value) for value in row] for row in given.get("values") or []]
    matrix = np.asarray(values, dtype=np.float64).reshape(-1, len(features))
    described = {
        "dataset_version": given.get("dataset_version", report.dataset_version_id),
        "rows": len(matrix),
        "seed": int(given.get("seed", 0)),
    }
    return matrix, described


def build_local(version: ModelVersion, report: AuditReport, features: list[str]) -> Callable[[], LocalExplainer]:
    """The build of the version's explainer from ``report``, as a function of data the cache runs in its thread
    (no database access there: everything is read here, in the request)."""
    background, described = background_of(report, features)
    explainer_spec = (report.results or {}).get("explainer") or {}
    parameters = explainer_spec.get("parameters") or {}
    method = explainer_spec.get("method")
    max_evals = int(parameters.get("max_evals") or DEFAULT_MAX_EVALS)
    interface, sha256 = dict(version.interface), version.artifact_sha256
    ids = (version.pk, report.pk, report.digest)

    def build() -> LocalExplainer:
        onnx_bytes = artifacts.read_verified(sha256)
        explainer = build_explainer(
            onnx_bytes, interface, background, seed=described["seed"], max_evals=max_evals, method=method
        )
        return LocalExplainer(ids[0], sha256, ids[1], ids[2], described, explainer)

    return build


def local_explainer(
    version: ModelVersion, report: AuditReport, features: list[str], *, cache: ExplainerCache | None = None
) -> LocalExplainer:
    """The explainer of ``version`` built from ``report``, from the process's cache (built on first use)."""
    chosen = cache if cache is not None else CACHE
    key = (version.pk, version.artifact_sha256, report.digest)
    # The report's background is read and parsed only when the explainer is not cached: not on every request.
    return chosen.get(
        key, lambda: build_local(version, report, features), wait=float(settings.EXPLAIN_BUILD_WAIT_SECONDS)
    )


# --- warming shap up when a web worker starts ------------------------------------------------------------------------


def warm_up() -> float:
    """Build and use a permutation explainer of a tiny model, so that numba compiles shap's permutation code now
    rather than in a request; returns the seconds it took."""
    import time

    from onnx import TensorProto, helper

    started = time.monotonic()
    graph = helper.make_graph(
        [
            helper.make_node(
                "Constant", [], ["w"], value=helper.make_tensor("wv", TensorProto.FLOAT, [2, 1], [0.5, -0.5])
            ),
            helper.make_node("MatMul", ["x", "w"], ["z"]),
            helper.make_node("Sigmoid", ["z"], ["p"]),
        ],
        "warm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, [None, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    interface = {
        "inputs": [{"name": "x", "kind": "tensor", "elem_type": "float32", "shape": [None, 2]}],
        "outputs": [{"name": "p", "kind": "tensor", "elem_type": "float32", "shape": [None, 1]}],
        "metadata_props": {"features": "a,b"},
    }
    background = np.random.default_rng(0).normal(size=(8, 2))
    explainer = build_explainer(model.SerializeToString(), interface, background, method="permutation")
    explainer.explain(background[:2])
    return time.monotonic() - started


def warm_in_background() -> threading.Thread:
    """``warm_up`` in a daemon thread (gunicorn.conf.py's ``post_worker_init``): the worker serves meanwhile."""

    def warm() -> None:
        try:
            logger.info("shap's permutation explainer warmed up in %.1f s", warm_up())
        except Exception:  # a web node without shap still serves everything else
            logger.exception("Could not warm shap up; the first explain request of this worker may answer 503")

    thread = threading.Thread(target=warm, daemon=True, name="explainer-warm-up")
    thread.start()
    return thread
