"""Request bodies too large to hold in memory, streamed to a temporary file under a hard cap.

Why: reading an upload with one ``content.read(n)`` returns whatever has arrived so far — a 5 MB
recording was stored as its first 780 KB and accepted. Here the body is read to its end, chunk by
chunk, into a temp file next to where it will be kept (so keeping it is an atomic ``os.replace``),
hashed on the way, and refused with 413 as soon as it passes the cap, whether the client declared a
``Content-Length`` or streams chunked. A body shorter than its declared length is refused too. The
caller checks the content (decoders), then :meth:`Upload.keep` or lets :func:`receive` discard it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from aiohttp import web

from hq_server.inputs import InputError

logger = logging.getLogger(__name__)

CHUNK = 64 * 1024
FLUSH_BYTES = 1024 * 1024
"""Bytes gathered in memory before one (threaded) write: few thread hops, little memory."""


@dataclass
class Upload:
    path: Path  # the temp file, complete and fsynced
    size: int
    sha256: str
    kept: bool = False

    def keep(self, final: Path) -> None:
        """Move the checked file to ``final`` (same file system: atomic); blocking."""
        os.replace(self.path, final)
        self.kept = True


def too_large(limit: int, what: tuple[str, str]) -> InputError:
    return InputError("body", f"{what[0]} quá lớn: tối đa {limit / 2**20:g} MB ({what[1]} over {limit} bytes)", 413)


async def _copy(request: web.Request, fh: BinaryIO, limit: int, what: tuple[str, str]) -> tuple[int, str]:
    digest, size, pending = hashlib.sha256(), 0, bytearray()
    async for chunk in request.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_large(limit, what)
        digest.update(chunk)
        pending += chunk
        if len(pending) >= FLUSH_BYTES:
            await asyncio.to_thread(fh.write, bytes(pending))
            pending.clear()
    await asyncio.to_thread(_finish, fh, bytes(pending))
    return size, digest.hexdigest()


def _finish(fh: BinaryIO, tail: bytes) -> None:
    fh.write(tail)
    fh.flush()
    os.fsync(fh.fileno())


@contextlib.asynccontextmanager
async def receive(request: web.Request, directory: Path, limit: int, what: tuple[str, str]) -> AsyncIterator[Upload]:
    """The whole body in a temp file in ``directory``; deleted on exit unless :meth:`Upload.keep` moved it.

    ``what`` names the content in Vietnamese and English for the 413 message. A client that hangs up
    mid-body cancels the handler; the temp file is removed all the same.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise too_large(limit, what)
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=".upload-", suffix=".tmp")
    upload = Upload(Path(name), 0, "")
    try:
        with os.fdopen(fd, "wb") as fh:
            upload.size, upload.sha256 = await _copy(request, fh, limit, what)
        if declared is not None and upload.size != declared:
            raise InputError("body", f"Tải lên không trọn vẹn: nhận {upload.size} trên {declared} byte "
                                     f"(incomplete upload: {upload.size} of {declared} bytes)")
        yield upload
    finally:
        if not upload.kept:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
