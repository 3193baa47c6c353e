"""Explanations benchmark (issue #13): one local explanation through the API, and the global report, each beside
shap run in-process on the same model in scikit-learn form.

    python -m bench.explain [--requests 300] [--global-rows 10000] [--kernel-rows 20]
    make bench-explain ARGS="--requests 50 --global-rows 2000"      # a quick run

Three 20-feature models trained on the same synthetic rows (seeded) and registered as ONNX model versions: a
boosted tree ensemble (scikit-learn's GradientBoostingClassifier, 100 trees of depth 3: Assay's exact tree path), a
scaled logistic regression (the linear path, in log-odds) and the same logistic regression explained model-
agnostically (its explanation report asks for the permutation explainer, the path every other graph takes). Each
gets an explanation report registered through the audits' action with a background of ``--background`` rows (what
the job registers), whose background the API's explainer is built from.

Printed:
- **Local**: the API's own floor first (``GET /api/v1/me/``: the token check and one row, what every call pays);
  then a real gunicorn (``--workers``, default 1) serving ``assay.wsgi``; after one warm-up request per model
  (the per-process explainer is built then, as on a deployed node), ``--requests`` sequential single-row
  ``POST /api/v1/model-versions/{id}/explain`` calls from one client: p50, p95, p99 in ms. Beside them, the floor:
  shap's own explainer on the scikit-learn model, in this process, one row at a time (TreeExplainer on the
  GradientBoostingClassifier, LinearExplainer on the scaled LogisticRegression, PermutationExplainer with the same
  budget over ``predict_proba``). Targets: p95 < 50 ms (tree), < 150 ms (model-agnostic).
- **Global**: ``audits.pipelines.explain.global_report`` over ``--global-rows`` rows (the explainer built, every row
  explained in batches, the figures), timed, beside shap's KernelExplainer (the classic model-agnostic global
  explanation, ``nsamples="auto"``) on the scikit-learn model with the same background, timed over
  ``--kernel-rows`` rows and extrapolated (it needs seconds per row).

The database is a throwaway one: SQLite in a temporary data folder, or, with DATABASE_URL set to a PostgreSQL server,
a throwaway database on it.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._env import run_child
from bench._server import Server, load, percentile

FEATURES = [f"f{index:02d}" for index in range(20)]
SEED = 7
TEAM = "bench"


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.explain", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="single-row API calls per model")
    parser.add_argument("--global-rows", type=int, default=10_000, help="rows of the global report")
    parser.add_argument("--agnostic-global-rows", type=int, default=200, help="rows of the permutation global report")
    parser.add_argument("--kernel-rows", type=int, default=20, help="rows KernelExplainer is timed on")
    parser.add_argument("--background", type=int, default=100, help="background rows")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _forwarded(options: argparse.Namespace) -> list[str]:
    return [
        f"--requests={options.requests}",
        f"--global-rows={options.global_rows}",
        f"--agnostic-global-rows={options.agnostic_global_rows}",
        f"--kernel-rows={options.kernel_rows}",
        f"--background={options.background}",
        f"--workers={options.workers}",
    ]


def _launch(options: argparse.Namespace) -> int:
    return run_child("bench.explain", _forwarded(options))


# --- The models ---------------------------------------------------------------------------------------------------


def _data(rows: int) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(rows, len(FEATURES)))
    x[:, 3] = np.abs(x[:, 3]) * 1000  # one feature on another scale, as incomes are
    logit = 0.9 * x[:, 0] - 0.7 * x[:, 1] + 0.5 * x[:, 2] * x[:, 4] + 0.0008 * x[:, 3] - 0.4 * (x[:, 5] > 1) - 0.8
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return x, y


def _onnx(model: Any, x: Any) -> bytes:
    from skl2onnx import to_onnx

    exported = to_onnx(model, x[:1].astype("float32"), options={"zipmap": False})
    entry = exported.metadata_props.add()
    entry.key, entry.value = "features", ",".join(FEATURES)
    return bytes(exported.SerializeToString())


def _timed(call: Callable[[], Any], count: int) -> list[float]:
    """Milliseconds of each of ``count`` calls."""
    out = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def _figures(ms: list[float]) -> str:
    return f"p50 {percentile(ms, 0.5):7.2f}  p95 {percentile(ms, 0.95):7.2f}  p99 {percentile(ms, 0.99):7.2f} ms"


# --- The child: Django set up on the throwaway database ------------------------------------------------------------


def _child(options: argparse.Namespace) -> int:
    import django

    django.setup()

    import numpy as np
    import shap
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from audits.actions import code_version, do_register_audit_report
    from audits.choices import AuditKind
    from audits.kinds import spec
    from audits.pipelines.explain import build_explainer, global_report
    from core import actions as core_actions
    from core.choices import Role
    from core.jobs import dispatch_job
    from registry import actions as registry

    call_command("migrate", verbosity=0, interactive=False)
    print(
        f"\n== Explanations benchmark ({platform.python_implementation()} {platform.python_version()}, shap "
        f"{shap.__version__}, {os.cpu_count()} CPUs, load {load()}) =="
    )
    root = get_user_model().objects.create_superuser(username="bench-root", password=None)
    team = core_actions.do_create_team(actor=root, slug=TEAM, name="Bench")
    engineer = core_actions.do_create_user(actor=root, username="bench-engineer", password=None)
    core_actions.do_grant_membership(team, actor=root, user=engineer, role=Role.ENGINEER)
    _, token = core_actions.do_create_token(actor=engineer, name="bench")

    x, y = _data(options.global_rows + 2000)
    x_train, y_train = x[:2000], y[:2000]
    rows = x[2000:]
    rng = np.random.default_rng(SEED)
    background = x_train[rng.choice(len(x_train), size=options.background, replace=False)]
    gbt = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=SEED).fit(x_train, y_train)
    lr = Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression(max_iter=500))]).fit(x_train, y_train)
    schema = {
        "columns": [
            *({"name": name, "type": "float64", "nullable": False} for name in FEATURES),
            {"name": "label", "type": "int64", "nullable": False},
        ]
    }
    dataset = registry.do_create_dataset(
        team,
        actor=engineer,
        name="Bench applications",
        owner=engineer,
        description="Synthetic rows of 20 features.",
        storage_format="parquet",
        location="lake://bench/applications",
        partitioning=[],
        residency_region="eu-west-1",
        classification="internal",
        legal_basis="contract",
    )
    dataset_version = registry.do_register_dataset_version(
        dataset, actor=engineer, schema=schema, content_fingerprint="b" * 64
    )
    cases: dict[str, dict[str, Any]] = {
        "boosted tree (exact)": {"onnx": _onnx(gbt, x_train), "method": "tree_exact", "sk": gbt},
        "logistic regression (linear)": {"onnx": _onnx(lr, x_train), "method": "linear", "sk": lr},
        "logistic regression (model-agnostic)": {"onnx": _onnx(lr, x_train), "method": "permutation", "sk": lr},
    }
    print(f"\n-- Global report over {options.global_rows} rows (background {options.background}) --")
    for number, (name, case) in enumerate(cases.items()):
        model = registry.do_create_model(team, actor=engineer, name=f"Bench model {number}", owner=engineer)
        version = registry.do_register_model_version(
            model, actor=engineer, chunks=iter([case["onnx"]]), filename="model.onnx"
        )
        started = time.perf_counter()
        explainer = build_explainer(case["onnx"], version.interface, background, seed=SEED, method=case["method"])
        built = time.perf_counter() - started
        explained = rows if case["method"] != "permutation" else rows[: options.agnostic_global_rows]
        started = time.perf_counter()
        figures = global_report(explainer, explained, seed=SEED)
        seconds = time.perf_counter() - started
        per_row = seconds / len(explained) * 1000
        print(
            f"  {name:<38} build {built:6.2f} s   {len(explained):>6} rows in {seconds:7.2f} s "
            f"({per_row:.3f} ms/row, additivity {figures['additivity']:.1e})"
        )
        results = {
            **figures,
            "background": {
                "dataset_version": dataset_version.pk,
                "seed": SEED,
                "rows": len(background),
                "features": list(FEATURES),
                "values": background.tolist(),
            },
            "explainer": {
                "method": explainer.method,
                "output_space": explainer.output_space,
                "parameters": explainer.parameters,
            },
            "checks": {"additivity": "pass"},
            "verdict": "pass",
        }
        job, _ = dispatch_job(
            spec(AuditKind.EXPLANATION).job_kind,
            actor=engineer,
            team=team,
            target=version,
            params={"dataset_version": dataset_version.pk},
        )
        do_register_audit_report(
            job,
            actor=engineer,
            kind=AuditKind.EXPLANATION,
            model_version=version,
            dataset_version=dataset_version,
            parameters={"dataset_version": dataset_version.pk, "background_rows": len(background), "seed": SEED},
            thresholds={"additivity_error_max": 1e-4},
            code=code_version(),
            results=results,
            checks=results["checks"],
            verdict="pass",
        )
        case["version"] = version.pk
        case["row"] = {feature: float(value) for feature, value in zip(FEATURES, rows[0], strict=True)}
    _kernel(options, lr, gbt, background, rows)
    _local(options, cases, background, rows, token)
    return 0


def _kernel(options: argparse.Namespace, lr: Any, gbt: Any, background: Any, rows: Any) -> None:
    import shap

    for name, model in (("boosted tree", gbt), ("logistic regression", lr)):
        explainer = shap.KernelExplainer(lambda data, m=model: m.predict_proba(data)[:, 1], background)
        sample = rows[: options.kernel_rows]
        started = time.perf_counter()
        explainer.shap_values(sample, silent=True)
        seconds = time.perf_counter() - started
        estimate = seconds / len(sample) * options.global_rows
        print(
            f"  shap KernelExplainer, {name:<22} {len(sample):>6} rows in {seconds:7.2f} s "
            f"({seconds / len(sample) * 1000:.0f} ms/row: {options.global_rows} rows ~ {estimate / 60:.0f} min)"
        )


def _local(
    options: argparse.Namespace, cases: dict[str, dict[str, Any]], background: Any, rows: Any, token: str
) -> None:
    import numpy as np
    import shap

    print(f"\n-- One local explanation, 1 client, {options.requests} requests per model --")
    one = rows[:1]
    floors: dict[str, Callable[[], Any]] = {}
    gbt = cases["boosted tree (exact)"]["sk"]
    tree = shap.TreeExplainer(gbt, data=background, feature_perturbation="interventional", model_output="probability")
    floors["boosted tree (exact)"] = lambda: tree.shap_values(one)
    lr = cases["logistic regression (linear)"]["sk"]
    scaler, classifier = lr.named_steps["scale"], lr.named_steps["classify"]
    linear = shap.LinearExplainer(classifier, shap.maskers.Independent(scaler.transform(background)))
    floors["logistic regression (linear)"] = lambda: linear.shap_values(scaler.transform(one))
    permutation = shap.PermutationExplainer(
        lambda data: lr.predict_proba(data)[:, 1], shap.maskers.Independent(background, max_samples=len(background))
    )
    max_evals = max(500, 2 * len(FEATURES) + 1)
    floors["logistic regression (model-agnostic)"] = lambda: permutation(one, max_evals=max_evals, silent=True)
    for call in floors.values():
        call()  # compiled or cached on first use, as the API's explainer is when it is built
    log = Path(os.environ["ASSAY_DATA_DIR"]) / "gunicorn.log"
    server = Server(options.workers, log, API_THROTTLE_USER="100000000/min")
    try:
        server.wait_ready(token)
        me = _timed(functools.partial(_ok, server, "/api/v1/me/", token, None, "GET"), options.requests)
        print(f"  the API's own floor: GET /api/v1/me/ (token check, one user) {_figures(me)}")
        for name, case in cases.items():
            path = f"/api/v1/model-versions/{case['version']}/explain"
            body = json.dumps({"rows": [case["row"]]}).encode()
            started = time.perf_counter()
            status, answer = server.request("POST", path, token, body)
            while status == 503:  # the explainer is being built: the answer says when to ask again
                time.sleep(0.5)
                status, answer = server.request("POST", path, token, body)
            warm = time.perf_counter() - started
            if status != 200:
                raise RuntimeError(f"{path}: {status} {answer[:500]!r}")
            api = _timed(functools.partial(_ok, server, path, token, body), options.requests)
            floor = _timed(floors[name], options.requests)
            print(f"  {name:<38} first request {warm:6.2f} s (the explainer is built)")
            print(f"    through the API (gunicorn, HTTP)      {_figures(api)}")
            print(f"    shap in-process, scikit-learn (floor) {_figures(floor)}")
            print(f"    ratio at p50                          {np.median(api) / np.median(floor):7.1f}x")
    finally:
        server.stop()


def _ok(server: Server, path: str, token: str, body: bytes | None, method: str = "POST") -> None:
    status, answer = server.request(method, path, token, body)
    if status != 200:
        raise RuntimeError(f"{path}: {status} {answer[:500]!r}")


def main(argv: list[str] | None = None) -> int:
    options = _options(sys.argv[1:] if argv is None else argv)
    return _child(options) if options.child else _launch(options)


if __name__ == "__main__":
    sys.exit(main())
