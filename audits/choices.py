from django.db import models


class AuditKind(models.TextChoices):
    """The kinds of audit a report can be; a release policy requires some of them (governance.checks.audits)."""

    FAIRNESS = "fairness", "Fairness"


class Verdict(models.TextChoices):
    """A check's or a report's verdict. "insufficient_data" (a group below the minimum size, too few groups to
    compare) is never a pass."""

    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    INSUFFICIENT_DATA = "insufficient_data", "Insufficient data"
