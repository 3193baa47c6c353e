"""The hyper-parameters and job settings a training job accepts, checked by name, type and range.

Pure Python: the request actions (registry.actions.jobs, on the web node, which loads neither Spark nor numpy) and
the training pipeline (registry.pipelines.training) check ``params`` with the same ``check_params``, so a request is
refused for exactly what the job would refuse. docs/spark-jobs.md, "Training".
"""

from __future__ import annotations

import math
from typing import Any, cast

__all__ = ["ALGORITHMS", "DEFAULT_MODEL_PARAMS", "JOB_PARAMS", "MODEL_PARAMS", "InvalidParams", "check_params"]


class InvalidParams(ValueError):
    """``params`` names an unknown parameter or gives one a value of the wrong type or out of range."""


ALGORITHMS = ("logistic_regression", "gbt")

# Hyper-parameters accepted per algorithm, with their type and bounds (inclusive). Anything else is refused by name.
_NUMBER = (int, float)
MODEL_PARAMS: dict[str, dict[str, tuple[tuple[type, ...], float, float]]] = {
    "logistic_regression": {
        "maxIter": ((int,), 1, 10_000),
        "regParam": (_NUMBER, 0.0, math.inf),
        "elasticNetParam": (_NUMBER, 0.0, 1.0),
        "tol": (_NUMBER, 0.0, 1.0),
        "fitIntercept": ((bool,), 0, 1),
        "standardization": ((bool,), 0, 1),
        "aggregationDepth": ((int,), 2, 100),
    },
    "gbt": {
        "maxIter": ((int,), 1, 1_000),
        "maxDepth": ((int,), 0, 30),
        "maxBins": ((int,), 2, 10_000),
        "stepSize": (_NUMBER, 1e-9, 1.0),
        "subsamplingRate": (_NUMBER, 1e-9, 1.0),
        "minInstancesPerNode": ((int,), 1, 1_000_000),
        "minInfoGain": (_NUMBER, 0.0, math.inf),
        "featureSubsetStrategy": ((str,), 0, 0),
        "validationTol": (_NUMBER, 0.0, math.inf),
        "checkpointInterval": ((int,), -1, 1_000_000),
    },
}
DEFAULT_MODEL_PARAMS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"maxIter": 100, "regParam": 0.0},
    "gbt": {"maxIter": 20, "maxDepth": 3, "stepSize": 0.1, "validationTol": 0.01, "checkpointInterval": 10},
}
# Settings of the job itself (not of the estimator), with their defaults.
JOB_PARAMS: dict[str, Any] = {
    "search": {},
    "parallelism": 2,
    "class_weight": "balanced",
    "validation_fraction": 0.15,
    "test_fraction": 0.15,
    "seed": 42,
    "parity_tolerance": None,
    "parity_sample": 1000,
    "skew_key": None,
    "salt_buckets": 64,
}


def check_params(algorithm: str, params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(hyper-parameters, job settings)`` for ``algorithm`` from ``params``, defaults filled in; raises
    ``InvalidParams`` naming the first parameter that is unknown, of the wrong type or out of range."""
    if algorithm not in ALGORITHMS:
        raise InvalidParams(f"Unknown algorithm {algorithm!r}: one of {', '.join(ALGORITHMS)}.")
    if not isinstance(params, dict):
        raise InvalidParams("params must be an object of hyper-parameters and job settings.")
    allowed = MODEL_PARAMS[algorithm]
    model_params = dict(DEFAULT_MODEL_PARAMS[algorithm])
    job_params = dict(JOB_PARAMS)
    for name, value in params.items():
        if name in JOB_PARAMS:
            job_params[name] = value
        elif name in allowed:
            model_params[name] = _check_value(name, value, allowed[name])
        else:
            raise InvalidParams(
                f"Unknown parameter {name!r} for {algorithm}: hyper-parameters are {', '.join(sorted(allowed))}; "
                f"job settings are {', '.join(sorted(JOB_PARAMS))}."
            )
    search = job_params["search"]
    if not isinstance(search, dict):
        raise InvalidParams('params["search"] must map hyper-parameter names to lists of values.')
    for name, values in search.items():
        if name not in allowed:
            raise InvalidParams(f'params["search"] names {name!r}, not a hyper-parameter of {algorithm}.')
        if not isinstance(values, list) or not values:
            raise InvalidParams(f'params["search"]["{name}"] must be a non-empty list of values.')
        for value in values:
            _check_value(f'search["{name}"]', value, allowed[name])
    parallelism = job_params["parallelism"]
    if not isinstance(parallelism, int) or isinstance(parallelism, bool) or not 1 <= parallelism <= 64:
        raise InvalidParams("parallelism must be an integer from 1 to 64.")
    if job_params["class_weight"] not in ("balanced", "none"):
        raise InvalidParams('class_weight must be "balanced" or "none".')
    for name in ("validation_fraction", "test_fraction"):
        value = job_params[name]
        if not isinstance(value, _NUMBER) or isinstance(value, bool) or not 0.01 <= value <= 0.5:
            raise InvalidParams(f"{name} must be a number from 0.01 to 0.5.")
    if job_params["validation_fraction"] + job_params["test_fraction"] > 0.8:
        raise InvalidParams("validation_fraction and test_fraction leave less than 20% of the rows to train on.")
    tolerance = job_params["parity_tolerance"]
    if tolerance is not None and (not isinstance(tolerance, _NUMBER) or isinstance(tolerance, bool) or tolerance < 0):
        raise InvalidParams("parity_tolerance must be a number, zero or more.")
    for name in ("seed", "parity_sample", "salt_buckets"):
        value = job_params[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "seed" else 1):
            raise InvalidParams(f"{name} must be a positive integer.")
    return model_params, job_params


def _check_value(name: str, value: Any, rule: tuple[tuple[type, ...], float, float]) -> Any:
    types, low, high = rule
    if types == (bool,):
        if not isinstance(value, bool):
            raise InvalidParams(f"{name} must be true or false.")
        return value
    if types == (str,):
        if not isinstance(value, str):
            raise InvalidParams(f"{name} must be a string.")
        return value
    if isinstance(value, bool) or not isinstance(value, types):
        kind = "an integer" if types == (int,) else "a number"
        raise InvalidParams(f"{name} must be {kind}.")
    number = float(cast(float, value))
    if not math.isfinite(number) or not low <= number <= high:
        raise InvalidParams(f"{name} must be from {low:g} to {high:g}; got {value!r}.")
    return value
