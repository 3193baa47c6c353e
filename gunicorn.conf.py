"""gunicorn's configuration, read by the Procfile's web line (``gunicorn assay.wsgi --config gunicorn.conf.py``).

The web server's timeout and threads come from the Django settings (assay/settings.py: ``WEB_TIMEOUT_SECONDS``,
``WEB_THREADS``), the same place as the ONNX validator's limits they must agree with (``ARTIFACT_VALIDATION_SECONDS``
at most half the timeout, ``ARTIFACT_VALIDATION_CONCURRENCY`` below the threads): the server refuses to start when
they do not (core.limits, ``assay.E010``/``E011``). docs/artifacts.md, docs/decisions/0006-validation-limits.md.

Threaded workers (gthread): a request waiting on a validation child holds one thread, not the whole worker, and
the worker's heartbeat comes from its main thread, so the other threads keep serving. The bind address stays on the
Procfile line (HOST, PORT).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assay.settings")

from django.conf import settings

from core.limits import validation_limit_problems

_problems = validation_limit_problems(settings)
if _problems:
    raise SystemExit(
        "Inconsistent web and validation limits:\n"
        + "\n".join(f"{ident}: {msg} {hint}" for ident, msg, hint in _problems)
    )

wsgi_app = "assay.wsgi"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(settings.WEB_THREADS)
timeout = int(settings.WEB_TIMEOUT_SECONDS)
graceful_timeout = 10
accesslog = "-"
# No control socket: gunicorn 27 puts it at $HOME/.gunicorn/gunicorn.ctl, one per user, which a second gunicorn on the
# machine (the inference service's, a test's) would contend for; nothing here uses it.
control_socket_disable = True


def post_worker_init(worker: object) -> None:
    """Get each worker ready before its first request, in the background so that it serves meanwhile: start its ONNX
    validator fork server (registry/onnx_validation.py), so that no upload's time limit pays for the server's
    imports; and, unless ``EXPLAIN_WARM_AT_START`` is off, compile shap's permutation explainer (numba, 7 to 15 s), so
    that the first explain request of a worker does not pay for it (audits/explainers.py; a request waits for a build
    at most EXPLAIN_BUILD_WAIT_SECONDS, then is answered 503 with Retry-After)."""
    import threading

    from registry.onnx_validation import start_fork_server

    threading.Thread(target=start_fork_server, daemon=True, name="validator-start").start()
    if settings.EXPLAIN_WARM_AT_START:
        from audits.explainers import warm_in_background

        warm_in_background()
