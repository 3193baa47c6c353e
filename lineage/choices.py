from django.db import models


class EventKind(models.TextChoices):
    """The three OpenLineage event shapes."""

    RUN = "run", "RunEvent"
    DATASET = "dataset", "DatasetEvent"
    JOB = "job", "JobEvent"


class RunState(models.TextChoices):
    """A run's OpenLineage ``eventType``. COMPLETE, ABORT and FAIL are terminal."""

    START = "START"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    ABORT = "ABORT"
    FAIL = "FAIL"
    OTHER = "OTHER"


TERMINAL_STATES = frozenset({RunState.COMPLETE, RunState.ABORT, RunState.FAIL})


class Direction(models.TextChoices):
    INPUT = "input"
    OUTPUT = "output"


class EventSource(models.TextChoices):
    """Where an event came from: posted to the ingestion endpoint, or emitted by one of Assay's own jobs."""

    API = "api"
    ASSAY = "assay"


class DeliveryState(models.TextChoices):
    """Where an event owed to the external backend is: waiting (first try or a retry after a failure) or sent."""

    PENDING = "pending"
    DELIVERED = "delivered"
