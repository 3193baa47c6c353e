"""Enumerations of governance. Stored values are stable strings: never rename one, add a new one."""

from django.db import models


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class ReleaseStatus(models.TextChoices):
    """Where a release request stands. Whether it is *approved* is never stored: the gate and the pages compute it
    from the signatures that still count, so that no status field can say "approved" when the signatures do not."""

    OPEN = "open", "Open"
    DEPLOYED = "deployed", "Deployed"
    WITHDRAWN = "withdrawn", "Withdrawn"


class KeyKind(models.TextChoices):
    CLIENT = "client", "Client-held (private key on the reviewer's machine)"
    SERVER = "server", "Web signing (private key sealed by the reviewer's passphrase)"


class SignedVia(models.TextChoices):
    API = "api", "API / CLI"
    WEB = "web", "Web form"


class EvaluationPurpose(models.TextChoices):
    DEPLOY = "deploy", "Deployment attempt"
    PREVIEW = "preview", "Preview"


class DecisionRecords(models.TextChoices):
    """When the inference service stores a decision record with the principal reasons (serving.DecisionRecord):
    only for requests that ask (``explain: true``), or for every request, durable before the response."""

    ON_REQUEST = "on_request", "When the request asks for an explanation"
    ALWAYS = "always", "For every decision, written before the response"
