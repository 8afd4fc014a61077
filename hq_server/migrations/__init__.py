"""Alembic migrations of the HQ schema (a package so that wheels ship it)."""
