"""A throw-away PostgreSQL server for a benchmark run (initdb + pg_ctl on a free port, loopback only).

Debian's PostgreSQL 15 server binaries; as root the server runs as the ``postgres`` user. Default
durability (fsync on): the benchmark measures what a commune's HQ would see.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from loaxa_link.mosquitto import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class TempPostgres:
    """In its own temp directory (0700 as made by ``mkdtemp``, handed to ``postgres``), removed at stop."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="loaxa-bench-pg-")))
    port: int = 0

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> TempPostgres:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError("PostgreSQL server binaries missing (Debian: apt-get install postgresql)")
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.port = free_port()
        data = self.root / "data"
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                     "-E", "UTF8", "--no-locale"]), check=True, capture_output=True)
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o",
                                     f"-h 127.0.0.1 -p {self.port} -k {self.root}", "-l", str(self.root / "log"),
                                     "-w", "-t", "60", "start"]), check=True, capture_output=True)
        return self

    def stop(self) -> None:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w",
                                     "stop"]), check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
