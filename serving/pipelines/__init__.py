"""Serving's pipelines: functions of data (Spark in, files out, no ORM), called by the workers' tasks."""
