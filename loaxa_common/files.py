"""Crash-safe small-file persistence: write to a temp file, fsync, rename.

A Raspberry Pi loses power without warning; a plain write can leave a truncated file that is read
back as garbage on the next boot. ``os.replace`` after ``fsync`` makes each update all-or-nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Temp file, fsync, rename: a reader sees the old or the new file, never half of one.

    ``mode`` is set on the temp file before any data is in it (mkstemp's 0600 otherwise), so a file
    another account must read (the broker's group) never exists with the wrong permissions.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, ensure_ascii=False, sort_keys=True).encode("utf-8"))


def read_json(path: Path, default: Any) -> Any:
    """Read JSON state; a missing file gives ``default``, a corrupt one is kept aside and logged."""
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return default
    except (ValueError, UnicodeDecodeError) as err:
        aside = path.with_suffix(path.suffix + ".corrupt")
        os.replace(path, aside)
        logger.error("state file %s is corrupt (%s); moved to %s and starting fresh", path, err, aside)
        return default
