"""Gate checks contributed by the apps below governance, registered from GovernanceConfig.ready."""
