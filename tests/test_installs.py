"""Installs by role (requirements/*.txt, docs/development.md): a web node installs requirements/web.txt only, so
nothing on the web server's path may import what only the workers, the Spark worker or the demo install.

Proven without installing anything: a fresh interpreter whose imports of those packages fail (a meta path finder
raising ImportError, as on a machine that lacks them) sets Django up, imports the root URLconf, the WSGI application
and every view module, runs ``manage.py check`` and migrations, and serves pages and the OpenAPI schema. The web
node installs shap (and pandas, scikit-learn) for local explanations on the decision path, but imports them only where
an explainer is built: the same run proves that starting up and serving pages loads none of them.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO / "requirements"
# Roles in order, each file including the one before it.
ROLES = ["web", "worker", "spark", "demo", "dev"]
# Import names of distributions whose name differs, and what they bring in that the web node must not import.
IMPORT_NAMES = {"scikit-learn": ["sklearn", "scipy", "joblib"], "pyspark": ["pyspark", "py4j"]}
# Installed on a web node for the explain endpoint (audits/explainers.py), heavy to import (seconds, and numba's
# compiler): loaded only when an explainer is built, never at start-up.
LAZY_ON_THE_WEB = ["shap", "numba", "llvmlite", "pandas", "sklearn", "scipy"]
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(?P<version>\S+)$")


def pins(role: str) -> dict[str, str]:
    """The packages a role's file pins itself (not those of the files it includes), by lower-case name."""
    found = {}
    for line in (REQUIREMENTS / f"{role}.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-r "):
            continue
        match = _PIN.match(line)
        assert match, f"requirements/{role}.txt: {line!r} is not pinned exactly (name==version)"
        found[match["name"].lower()] = match["version"]
    return found


def not_on_a_web_node() -> list[str]:
    """Import names of every package the worker, Spark, demo and dev roles add to the web's."""
    names: list[str] = []
    for role in ROLES[1:]:
        for package in pins(role):
            names += IMPORT_NAMES.get(package, [package.replace("-", "_")])
    return sorted(set(names))


WEB_NODE = """
import importlib, importlib.abc, os, pkgutil, sys

BLOCKED = frozenset(sys.argv[1].split(","))
LAZY = frozenset(sys.argv[2].split(","))


class NotOnAWebNode(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(f"No module named {name!r} (not installed on a web node)", name=name)
        return None


sys.meta_path.insert(0, NotOnAWebNode())
# EXTRA
os.environ["DJANGO_SETTINGS_MODULE"] = "assay.settings"
import django

django.setup()
import assay.urls, assay.wsgi  # noqa: E401
from django.urls import URLPattern, URLResolver, get_resolver


def callbacks(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from callbacks(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            yield pattern.callback


assert len(list(callbacks(get_resolver().url_patterns))) > 50
views = []
for app in ("core", "registry", "governance", "serving", "workers"):
    package = importlib.import_module(app)
    for module in pkgutil.walk_packages(package.__path__, app + "."):
        if module.name.rsplit(".", 1)[-1] in ("views", "urls", "forms", "serializers") or ".views." in module.name:
            views.append(importlib.import_module(module.name).__name__)
assert "registry.views.models" in views and "core.api.views" in views, views

from django.core.management import call_command

call_command("check")
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from django.test import Client

client = Client()
assert client.get("/login/").status_code == 200
client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "x" * 20))
for page in ("/", "/models/", "/api/schema/"):
    response = client.get(page)
    assert response.status_code == 200, (page, response.status_code)
loaded = sorted({name.partition(".")[0] for name in sys.modules} & BLOCKED)
assert not loaded, loaded
imported = sorted({name.partition(".")[0] for name in sys.modules} & LAZY)
assert not imported, f"imported at start-up: {imported}"
print("web node ok:", len(views), "view modules")
"""


def run_as_web_node(tmp_path: Path, blocked: list[str], extra: str = "") -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(ASSAY_DATA_DIR=str(tmp_path / "data"), ASSAY_ENV="development", PYTHONDONTWRITEBYTECODE="1")
    env.pop("ARTIFACT_ROOT", None)
    env.pop("DATA_LAKE_ROOT", None)
    return subprocess.run(
        [sys.executable, "-c", WEB_NODE.replace("# EXTRA", extra), ",".join(blocked), ",".join(LAZY_ON_THE_WEB)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_each_role_includes_the_one_before_and_pins_exactly() -> None:
    for below, role in itertools.pairwise(ROLES):
        lines = (REQUIREMENTS / f"{role}.txt").read_text().splitlines()
        assert f"-r {below}.txt" in lines, f"requirements/{role}.txt must include {below}.txt"
    everything = [package for role in ROLES for package in pins(role)]
    assert len(everything) == len(set(everything)), "a package is pinned in two role files"
    assert {"django", "gunicorn", "onnx", "onnxruntime", "celery", "psycopg"} <= set(pins("web"))


def test_the_web_node_lacks_the_heavy_packages() -> None:
    blocked = not_on_a_web_node()
    heavy = {"pyspark", "pyarrow", "skl2onnx", "onnxmltools", "fairlearn", "aif360"}
    assert heavy <= set(blocked), sorted(heavy - set(blocked))
    assert not {"django", "onnx", "onnxruntime", "numpy", "celery", "shap", "pandas", "sklearn"} & set(blocked)


def test_a_web_node_without_the_worker_and_demo_packages_starts_and_serves(tmp_path: Path) -> None:
    run = run_as_web_node(tmp_path, not_on_a_web_node())
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    assert "web node ok:" in run.stdout


@pytest.mark.parametrize("package", ["skl2onnx", "pyspark.sql"])
def test_the_guard_fails_the_run_when_the_web_path_imports_a_heavy_package(tmp_path: Path, package: str) -> None:
    # The same script, with an import of a Spark-worker package, as a web module that imported one would.
    run = run_as_web_node(tmp_path, not_on_a_web_node(), extra=f"import {package}")
    assert run.returncode != 0
    top = package.partition(".")[0]  # importing pyspark.sql imports pyspark first
    assert f"No module named '{top}' (not installed on a web node)" in run.stderr


def test_the_guard_fails_the_run_when_start_up_imports_shap(tmp_path: Path) -> None:
    # shap is installed on a web node, but a module that imported it at start-up would cost every worker seconds.
    run = run_as_web_node(tmp_path, not_on_a_web_node(), extra="import shap")
    assert run.returncode != 0
    assert "imported at start-up: ['llvmlite', 'numba', 'pandas', 'scipy', 'shap', 'sklearn']" in run.stderr
