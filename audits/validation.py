"""The validation audit kind (audits.kinds): being built; registers nothing yet."""
