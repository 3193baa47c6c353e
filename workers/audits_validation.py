"""The validation audit job (workers.audits.run_audit): being built."""
