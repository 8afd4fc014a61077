"""hq_server."""
