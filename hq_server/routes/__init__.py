"""REST API v1 route modules, one per resource; each exposes ``routes`` (a :class:`hq_server.web.Routes`)."""
