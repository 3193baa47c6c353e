"""Enumerations of serving. Stored values are stable strings: never rename one, add a new one."""

from django.db import models


class DeploymentRole(models.TextChoices):
    """What a deployment does in its environment. The primary answers requests. A canary answers
    ``traffic_percent`` of them, chosen deterministically by the request key (one customer always meets the same
    version). A shadow scores the same requests as the primary, is never returned, and is logged for comparison."""

    PRIMARY = "primary", "Primary"
    CANARY = "canary", "Canary"
    SHADOW = "shadow", "Shadow"
