"""Gate checks that read the apps below governance (lineage, later audits, DPIAs, retention), each registered with
governance.gate.register_check when its module is imported (GovernanceConfig.ready)."""
