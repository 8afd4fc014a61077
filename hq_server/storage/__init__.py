"""Persistence: SQLAlchemy 2 (async) tables and the database lifecycle (migrations at start-up)."""
