"""The Assay side of ``bench.registry_vs_mlflow``, run inside Django on the benchmark's throwaway database.

    python -m bench._assay_side setup --models 100 --groups 10 --onnx FILE   (prints JSON: token, models)
    python -m bench._assay_side seed --count 2000 --models 100 --onnx FILE

``setup`` migrates, then creates through core.actions a superuser, a team, an engineer (the member whose bearer token
the benchmark uses: a real, permission-filtered caller, not a superuser) and the registered models, each tagged with
its group. ``seed`` registers versions round-robin over the models through
``registry.actions.do_register_model_version`` (streamed into the artifact store, numbered under the model's lock,
audit event in the same transaction). Only the ONNX validation child process is memoised per content digest: every
seeded version carries the same bytes, which were validated once for real, and a child per row (about 10 ms of CPU
from the fork server, 150 ms from a fresh interpreter) would add minutes to the seeding of 20,000 rows without
changing a single row the measured searches read. Measured registrations go through HTTP and are validated every
time, each in a child of its own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import django


def model_name(index: int) -> str:
    # Fixed width, so that even the API's "name contains" search (q=) finds exactly one model.
    return f"bench-model-{index:04d}"


def group_tag(index: int, groups: int) -> str:
    return f"group-{index % groups:02d}"


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench._assay_side")
    parser.add_argument("command", choices=("setup", "seed"))
    parser.add_argument("--models", type=int, required=True)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--onnx", required=True, help="the ONNX file every seeded version carries")
    parser.add_argument("--part", type=int, default=0, help="this seeder's share: models whose index %% parts == part")
    parser.add_argument("--parts", type=int, default=1)
    return parser.parse_args(argv)


def _setup(options: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command

    from core import actions
    from core.choices import Role
    from registry import actions as registry_actions

    call_command("migrate", verbosity=0, interactive=False)
    root = actions.do_create_user(actor=None, username="bench-root", password=None, is_superuser=True)
    team = actions.do_create_team(actor=root, slug="bench", name="Bench")
    engineer = actions.do_create_user(actor=root, username="bench-engineer", password=None)
    actions.do_grant_membership(team, actor=root, user=engineer, role=Role.ENGINEER)
    _, token = actions.do_create_token(actor=engineer, name="bench")
    models = []
    for index in range(options.models):
        model = registry_actions.do_create_model(
            team,
            actor=engineer,
            name=model_name(index),
            owner=engineer,
            description="Benchmark model.",
            tags=[group_tag(index, options.groups), "bench"],
        )
        models.append({"id": model.pk, "name": model.name, "tag": group_tag(index, options.groups)})
    return {"token": token, "models": models}


def _memoised_validation() -> None:
    from registry.actions import registered_models as registry_actions
    from registry.onnx_validation import validate_onnx

    reports: dict[str, Any] = {}

    def validate(path: Path | str, **kwargs: Any) -> Any:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if digest not in reports:
            reports[digest] = validate_onnx(path, **kwargs)
        return reports[digest]

    registry_actions.validate_onnx = validate


def _seed(options: argparse.Namespace) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from registry import actions as registry_actions
    from registry.models import ModelVersion, RegisteredModel

    _memoised_validation()
    engineer = get_user_model().objects.get(username="bench-engineer")
    # Seeders running side by side each take their own models, so that none waits on another's model lock.
    models = list(RegisteredModel.objects.select_related("team").order_by("name")[: options.models])
    models = models[options.part :: options.parts]
    content = Path(options.onnx).read_bytes()
    start = ModelVersion.objects.filter(model__in=models).count()
    started = time.perf_counter()
    for i in range(options.count):
        registry_actions.do_register_model_version(
            models[(start + i) % len(models)],
            actor=engineer,
            chunks=[content],
            filename="seed.onnx",
            metrics={"auc": 0.8},
            training_params={"seed": start + i},
        )
    return {"versions": ModelVersion.objects.count(), "seconds": time.perf_counter() - started}


def main(argv: list[str]) -> int:
    options = _options(argv)
    django.setup()
    result = _setup(options) if options.command == "setup" else _seed(options)
    # The last line of stdout is the answer; Django or a library may have printed before it.
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
