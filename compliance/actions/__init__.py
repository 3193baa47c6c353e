"""Every write of compliance records goes through these actions (docs/architecture.md)."""
