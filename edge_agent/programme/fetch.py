"""Fetch HQ-rendered audio by content hash, verify it, keep it on disk.

The file name is the hash (``{sha256}.audio``): a file present is a file verified. Downloads stream
to a temp file with a size cap and a timeout, the SHA-256 is checked before ``os.replace``, and a
mismatch or truncated download is discarded — never cached, never played.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)


class FetchError(RuntimeError):
    pass


class AudioFetcher:
    def __init__(self, directory: Path, *, base_url: str | None, timeout_s: float = 20.0,
                 max_bytes: int = 100 * 1024 * 1024, ca_bundle: str | bool = True) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.ca_bundle = ca_bundle

    def path_for(self, sha256: str) -> Path:
        return self.directory / f"{sha256}.audio"

    def url_for(self, sha256: str, url: str | None) -> str:
        if url:
            return url if "://" in url or not self.base_url else f"{self.base_url}/{url.lstrip('/')}"
        if not self.base_url:
            raise FetchError("audio has no url and audio.hq_url is not configured")
        return f"{self.base_url}/audio/{sha256}"

    def get(self, sha256: str, url: str | None = None) -> bytes:
        """Verified audio bytes for ``sha256``, from disk or downloaded (blocking: run in a thread)."""
        path = self.path_for(sha256)
        if path.exists():
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() == sha256:
                with contextlib.suppress(OSError):
                    os.utime(path)
                return data
            logger.error("cached audio %s fails its hash; downloading again", path.name)
            path.unlink(missing_ok=True)
        return self._download(sha256, self.url_for(sha256, url), path)

    def _download(self, sha256: str, url: str, path: Path) -> bytes:
        import requests  # lazy: ~8 MB of RSS an idle node does not need

        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{sha256[:16]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh, requests.get(url, stream=True, verify=self.ca_bundle,
                                                          timeout=(min(10.0, self.timeout_s), self.timeout_s)) as r:
                r.raise_for_status()
                for block in r.iter_content(64 * 1024):
                    size += len(block)
                    if size > self.max_bytes:
                        raise FetchError(f"audio larger than {self.max_bytes} bytes")
                    digest.update(block)
                    fh.write(block)
                fh.flush()
                os.fsync(fh.fileno())
            if digest.hexdigest() != sha256:
                raise FetchError(f"hash mismatch: got {digest.hexdigest()[:12]}…, want {sha256[:12]}… ({size} bytes)")
            if size == 0:
                raise FetchError("empty audio")
            os.replace(tmp, path)
        except requests.RequestException as err:
            raise FetchError(f"download {url} failed: {err}") from err
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        logger.info("fetched audio %s… (%d bytes)", sha256[:12], size)
        return path.read_bytes()

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.glob("*.audio"))
