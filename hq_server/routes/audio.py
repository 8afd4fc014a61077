"""Audio upload (operators) and audio by content hash (nodes fetch ``/audio/{sha256}``).

``/audio/{sha256}`` is public on purpose: nodes hold no HQ account, the hash is unguessable and
names content the node verifies; it reveals nothing that is not broadcast on loudspeakers anyway.
"""

from __future__ import annotations

from aiohttp import web

from hq_server.services.audio import CONTENT_TYPES, CONVERTED, SHA_RE, AudioError
from hq_server.services.auth import Perm
from hq_server.uploads import receive
from hq_server.web import AUDIO, AUDIT_DETAIL, ApiError, Routes, json_response

routes = Routes()
MAX_UPLOAD = 50 * 1024 * 1024
_BY_TYPE = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/mpeg": "mp3", "audio/ogg": "ogg",
            "audio/webm": "webm"}


@routes.route("POST", "/api/v1/audio", perm=Perm.BULLETIN_WRITE,
              summary="Upload an audio file (raw body, Content-Type audio/wav, audio/mpeg, audio/ogg; audio/webm from "
                      "a browser recording is converted to WAV; ≤ 50 MB, decoded whole before it is accepted)")
async def upload(request: web.Request) -> web.Response:
    fmt = _BY_TYPE.get(request.content_type) or request.query.get("format", "")
    if fmt not in CONTENT_TYPES and fmt not in CONVERTED:
        raise ApiError(400, "Định dạng âm thanh không hỗ trợ (unsupported audio type)",
                       {"content_type": f"use one of {', '.join(_BY_TYPE)}"})
    store = request.app[AUDIO]
    async with receive(request, store.dir, MAX_UPLOAD, ("Tệp âm thanh", "audio file")) as upload:
        try:
            stored = await store.store_upload(upload, fmt)
        except AudioError as err:
            raise ApiError(400, str(err), {"file": str(err)}) from err
    request[AUDIT_DETAIL] = {"sha256": stored.sha256, "bytes": stored.size}
    return json_response({"sha256": stored.sha256, "url": f"/audio/{stored.sha256}", "bytes": stored.size,
                          "duration_s": stored.duration_s}, 201)


@routes.route("GET", "/audio/{sha256}", perm=None, summary="Audio by content hash (for nodes)")
async def fetch(request: web.Request) -> web.StreamResponse:
    sha = request.match_info["sha256"]
    path = request.app[AUDIO].find(sha) if SHA_RE.match(sha) else None
    if path is None:
        raise web.HTTPNotFound()
    fmt = path.suffix.lstrip(".")
    return web.FileResponse(path, headers={"Content-Type": CONTENT_TYPES.get(fmt, "application/octet-stream"),
                                           "Cache-Control": "public, max-age=31536000, immutable",
                                           "ETag": f'"{sha}"'})
