"""HQ's web UI: server-rendered pages (Jinja2) in Vietnamese first, served by the HQ app itself.

Same origin, same session cookie and CSRF token, same roles as the REST API; pages are declared in the
same route table (``html=True``: a page answers errors as pages and sends a logged-out visitor to the
log-in page). Static files are vendored (see ``scripts/vendor_assets.py``) and served from memory.
"""
