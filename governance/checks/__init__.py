"""Gate checks that read the apps below governance, each in its own module, registered from GovernanceConfig.ready
(governance.gate.register_check)."""
