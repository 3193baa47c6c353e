"""Functions of data for compliance's jobs: no database, no ORM (workers and compliance's finders call them)."""
