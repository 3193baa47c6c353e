"""Gate checks that read the apps below governance (lineage, audits, DPIAs), each registered with
governance.gate.register_check when its module is imported (GovernanceConfig.ready)."""
