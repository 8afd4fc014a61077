"""Fixtures of the web UI tests: the HQ fixtures (real HQ, real Mosquitto) and a logged-in browser session."""

from tests.hq.fixtures import hq, postgres_url, start_hq  # noqa: F401  (pytest fixtures)
