from django.db import models


class AuditKind(models.TextChoices):
    """The kinds of audit a report can be (each registered in audits.kinds); a release policy requires some of
    them (governance.audit_policy, governance.checks.audits)."""

    FAIRNESS = "fairness", "Fairness"
    PROXY = "proxy", "Proxy detection"
    VALIDATION = "validation", "Validation"
    EXPLANATION = "explanation", "Explanation"


class Verdict(models.TextChoices):
    """A check's or a report's verdict. "insufficient_data" (a group below the minimum size, too few groups to
    compare) is never a pass."""

    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    INSUFFICIENT_DATA = "insufficient_data", "Insufficient data"
