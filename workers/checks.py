"""System checks of the job workers' configuration (``assay.W010``: no Java for Spark)."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Warning, register

from workers.spark import JAVA_FIX, find_java


@register()
def check_java_for_spark(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """The Spark jobs (features, training) need Java 17 or newer in the worker's environment. A warning, not an
    error: the web server and the other jobs run without it."""
    runtime, problem = find_java()
    if runtime is not None:
        return []
    return [
        Warning(
            f"No Java runtime for the Spark jobs: {problem}. Feature and training jobs will fail.",
            id="assay.W010",
            hint=f"On the machines that run the 'spark' worker, {JAVA_FIX}.",
        )
    ]
