"""gunicorn's configuration for the inference service (Procfile ``inference``): gunicorn's own ASGI worker (asyncio,
HTTP/1.1 keep-alive, the lifespan protocol), INFERENCE_WORKERS processes, no access log (every scoring is in the
prediction log; a line per request would cost more than the scoring). The bind address stays on the Procfile line
(HOST, INFERENCE_PORT). Any ASGI server runs the same application (``uvicorn serving.inference.asgi:app``).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assay.settings")

from django.conf import settings

wsgi_app = "serving.inference.asgi:app"
worker_class = "asgi"
asgi_lifespan = "on"
workers = int(settings.INFERENCE_WORKERS)
timeout = int(settings.WEB_TIMEOUT_SECONDS)
graceful_timeout = 10
accesslog = None
# No control socket: its default path ($HOME/.gunicorn/gunicorn.ctl) is one per user, which the web server's gunicorn
# on the same machine takes.
control_socket_disable = True
