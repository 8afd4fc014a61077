"""Fixtures for the HQ tests live in tests/hq/fixtures.py (shared with tests/integration/test_hq_*)."""

from tests.hq.fixtures import hq, postgres_url, start_hq  # noqa: F401  (pytest fixtures)
