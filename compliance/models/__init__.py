"""Compliance records: DPIAs, retention policies and their runs, legal holds, data-subject requests."""
