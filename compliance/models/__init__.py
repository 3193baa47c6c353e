"""Compliance records: DPIAs, retention policies and their runs, legal holds, data-subject requests."""

from compliance.models.dpia import ColumnReclassification, Dpia, DpiaTransition, DpiaVersion

__all__ = ["ColumnReclassification", "Dpia", "DpiaTransition", "DpiaVersion"]
