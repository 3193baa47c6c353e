"""The inference service: an ASGI application (``serving.inference.asgi:app``) that scores requests against the
deployments the routes name, and logs each scoring (docs/serving.md, "The inference service")."""
