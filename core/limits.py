"""The web server's limits against the ONNX validator's, checked in one place.

Imported by gunicorn.conf.py before Django's apps are loaded (it reads nothing but settings), and by the system
check ``assay.E010``/``E011`` in core.checks; also the explainer build's wait against the web timeout (``E012``).
"""

from __future__ import annotations

from django.conf import LazySettings


def validation_limit_problems(config: LazySettings) -> list[tuple[str, str, str]]:
    """What is inconsistent between the web server's limits and the ONNX validator's, as (id, message, hint).

    Read by the system check below and by gunicorn.conf.py, which refuses to start the web server on any of them.
    """
    problems: list[tuple[str, str, str]] = []
    web_timeout = int(config.WEB_TIMEOUT_SECONDS)
    validation = float(config.ARTIFACT_VALIDATION_SECONDS)
    if 2 * validation > web_timeout:
        problems.append(
            (
                "assay.E010",
                f"ARTIFACT_VALIDATION_SECONDS ({validation:g}) is over half of WEB_TIMEOUT_SECONDS ({web_timeout}): "
                "an upload that uses up its validation time would outlive the web worker's timeout and be killed "
                "with it, instead of being refused with a 400 naming the limit.",
                "Leave ARTIFACT_VALIDATION_SECONDS unset (it defaults to half the web timeout), or raise "
                "WEB_TIMEOUT_SECONDS (and the reverse proxy's timeout) with it.",
            )
        )
    threads, concurrency = int(config.WEB_THREADS), int(config.ARTIFACT_VALIDATION_CONCURRENCY)
    if concurrency >= threads:
        problems.append(
            (
                "assay.E011",
                f"ARTIFACT_VALIDATION_CONCURRENCY ({concurrency}) is not below WEB_THREADS ({threads}): validations "
                "could take every thread of a web worker, and the requests queued behind them would wait.",
                "Raise WEB_THREADS or lower ARTIFACT_VALIDATION_CONCURRENCY.",
            )
        )
    wait = int(config.EXPLAIN_BUILD_WAIT_SECONDS)
    if 2 * wait > web_timeout:
        problems.append(
            (
                "assay.E012",
                f"EXPLAIN_BUILD_WAIT_SECONDS ({wait}) is over half of WEB_TIMEOUT_SECONDS ({web_timeout}): an explain "
                "request that waited that long for its explainer could outlive the web worker's timeout and be "
                "killed, instead of being answered 503 with Retry-After.",
                "Leave EXPLAIN_BUILD_WAIT_SECONDS unset (it defaults to a third of the web timeout), or lower it.",
            )
        )
    return problems
