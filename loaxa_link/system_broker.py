"""A Mosquitto that HQ does not start (Debian's ``mosquitto.service``) but whose users HQ manages.

HQ renders the credential store into a directory Mosquitto reads (``broker.managed.dir``): files
0640 in a directory whose group is ``mosquitto`` (setgid, so files HQ replaces keep that group), so
the broker's user can read what HQ's user writes and nobody else can. After a change the broker must
re-read them (SIGHUP): HQ sends it when it may (same user, or root), else the
``loaxa-broker-reload.path`` systemd unit sees the files change and runs ``systemctl reload
mosquitto``. When the broker's log is readable, the reload is confirmed from it (Mosquitto logs
"Reloading config." and handles nothing else meanwhile: it is single-threaded).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from loaxa_common.files import atomic_write_bytes
from loaxa_link.credentials import CredentialStore
from loaxa_link.mosquitto import BrokerError

SHARED_MODE = 0o640


def write_shared(path: Path, data: bytes) -> None:
    """Atomic write of a file the broker's group may read (0640)."""
    atomic_write_bytes(path, data, mode=SHARED_MODE)


def render_shared(directory: Path, credentials: CredentialStore) -> tuple[Path, Path]:
    """Write ``passwd`` and ``acl`` from the store into ``directory``; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    passwd, acl = directory / "passwd", directory / "acl"
    write_shared(passwd, credentials.passwd_text().encode())
    write_shared(acl, credentials.acl_text().encode())
    return passwd, acl


def signal_reload(pid_file: Path | None, log_file: Path | None, timeout: float = 10.0) -> bool:
    """SIGHUP the broker named by ``pid_file``; True once it reloaded (confirmed by ``log_file`` if given).

    False when HQ may not signal it (another user: the systemd path unit does it) or no pid file is
    known. Raises :class:`BrokerError` when a readable log does not confirm the reload in time.
    """
    if pid_file is None:
        return False
    try:
        pid = int(Path(pid_file).read_text().strip())
    except (OSError, ValueError):
        return False
    offset = 0
    if log_file is not None:
        with contextlib.suppress(OSError):
            offset = Path(log_file).stat().st_size
    try:
        os.kill(pid, signal.SIGHUP)
    except (PermissionError, ProcessLookupError):
        return False
    if log_file is None:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), open(log_file, "rb") as fh:
            fh.seek(offset)
            if b"Reloading config." in fh.read():
                return True
        time.sleep(0.01)
    raise BrokerError(f"mosquitto (pid {pid}) did not confirm the reload within {timeout}s; see {log_file}")
