"""Snapshot upload: a JPEG goes to HQ by HTTP POST, not over MQTT.

Why HTTP: a 720p JPEG is 50-200 kB, larger than the contract's MQTT payload limit and heavy on a
rural 4G link shared with the audio bulletins; a retained snapshot topic per camera would also keep
every picture in the broker's memory and persistence file and replay it to every new subscriber.
HQ sends a ``SnapshotCommand`` over MQTT with an ``upload_url``; the node answers with one POST.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from edge_agent.camera.capture import CameraError
from edge_agent.camera.config import redact

logger = logging.getLogger(__name__)


class UploadError(CameraError):
    """The snapshot could not be delivered to HQ."""


def safe_upload_url(url: str) -> str:
    """The URL without credentials, query string or the one-time token after ``/upload/`` in the path."""
    parts = urlsplit(redact(url))
    path = parts.path
    if "/upload/" in path:
        path = path[: path.index("/upload/") + len("/upload/")] + "…"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


async def upload_snapshot(
    url: str,
    jpeg: bytes,
    *,
    camera: str,
    node: str,
    session: aiohttp.ClientSession | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float = 15.0,
) -> int:
    """POST ``jpeg`` (``Content-Type: image/jpeg``) to ``url``; return the HTTP status, or :class:`UploadError`.

    ``X-LoaXa-Camera`` / ``X-LoaXa-Node`` say whose picture it is. Pass ``headers`` for authentication
    (e.g. a bearer token) and ``session`` to reuse the agent's connection pool.
    """
    if not url.startswith(("http://", "https://")):
        raise UploadError(f"upload url must be http(s): {safe_upload_url(url)!r}")
    send_headers = {"Content-Type": "image/jpeg", "X-LoaXa-Camera": camera, "X-LoaXa-Node": node, **(headers or {})}
    own = session is None
    client = session or aiohttp.ClientSession()
    try:
        async with client.post(
            url, data=jpeg, headers=send_headers, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp:
            if resp.status >= 300:
                raise UploadError(
                    f"HQ refused the snapshot of {camera}: HTTP {resp.status} from {safe_upload_url(url)}"
                )
            logger.info("camera %s: snapshot of %d bytes uploaded to %s", camera, len(jpeg), safe_upload_url(url))
            return resp.status
    except (aiohttp.ClientError, TimeoutError) as err:
        raise UploadError(
            f"snapshot upload of {camera} to {safe_upload_url(url)} failed: {type(err).__name__}"
        ) from None
    finally:
        if own:
            await client.close()
