"""The proxy audit kind (audits.kinds): being built; registers nothing yet."""
