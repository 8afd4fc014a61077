"""Static files of the web UI, served by HQ from memory with content-hashed URLs and immutable caching.

Why in memory: the whole set is well under a megabyte, reading it once at start-up lets each file be
gzip-compressed once (text files only; woff2 is already compressed) and its SHA-256 computed once.
Templates link ``asset('app.css')`` → ``/static/app.css?v=<hash>``; the response says
``Cache-Control: public, max-age=31536000, immutable``, so a browser fetches each version exactly once
and a new version has a new URL. A request with another ``v`` (an old page in a cache) still gets the
current file, but without the long cache lifetime.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
_COMPRESSIBLE = (".js", ".css", ".svg", ".json", ".txt", ".html")
_TYPES = {".woff2": "font/woff2", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".svg": "image/svg+xml", ".json": "application/json", ".png": "image/png", ".ico": "image/x-icon"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    gz: bytes | None
    content_type: str
    version: str


class Assets:
    def __init__(self, root: Path = STATIC_DIR) -> None:
        self.files: dict[str, Asset] = {}
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            rel = path.relative_to(root).as_posix()
            body = path.read_bytes()
            gz = gzip.compress(body, 9, mtime=0) if path.suffix in _COMPRESSIBLE else None
            ctype = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            self.files[rel] = Asset(body, gz if gz and len(gz) < len(body) else None, ctype,
                                    hashlib.sha256(body).hexdigest()[:12])

    def url(self, rel: str) -> str:
        """The cache-busting URL of a static file; a missing file is a template bug, so it raises."""
        asset = self.files.get(rel)
        if asset is None:
            raise KeyError(f"no static file {rel!r} in {STATIC_DIR}")
        return f"/static/{rel}?v={asset.version}"

    def response(self, request: web.Request, rel: str) -> web.Response:
        asset = self.files.get(rel)
        if asset is None:
            raise web.HTTPNotFound()
        fresh = request.query.get("v") == asset.version
        headers = {"Cache-Control": IMMUTABLE if fresh else "no-cache", "ETag": f'"{asset.version}"',
                   "Vary": "Accept-Encoding", "X-Content-Type-Options": "nosniff"}
        if request.headers.get("If-None-Match") == f'"{asset.version}"':
            return web.Response(status=304, headers=headers)
        if asset.gz is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=asset.gz, headers={**headers, "Content-Type": asset.content_type})
        return web.Response(body=asset.body, headers={**headers, "Content-Type": asset.content_type})
