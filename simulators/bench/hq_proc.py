"""A real HQ for a benchmark, in its own process: ``hq-server run`` with a generated config.

Its own process so that its CPU time and memory are its own (and its embedded Mosquitto's, a child
of it, are measured apart). Stopped by PID: SIGTERM, then SIGKILL if it does not finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import yaml
from prometheus_client.parser import text_string_to_metric_families

from hq_server.config import HqConfig
from loaxa_link.mosquitto import free_port, running_pid
from simulators.demo import admin_token


@dataclass
class HqProcess:
    work_dir: Path
    commune: str
    database_url: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    """Extra top-level config sections merged over the defaults (e.g. ``{"bulletins": {...}}``)."""
    cfg: HqConfig | None = None
    token: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        assert self.cfg is not None
        return f"http://127.0.0.1:{self.cfg.http.port}"

    @property
    def broker_port(self) -> int:
        assert self.cfg is not None
        return self.cfg.embedded_broker.port

    @property
    def config_path(self) -> Path:
        return self.work_dir / "hq.yaml"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "hq.log"

    async def prepare(self) -> HqConfig:
        """Write the config, migrate the database, create the admin whose API token the benchmark uses."""
        raw: dict[str, Any] = {
            "commune": self.commune, "data_dir": str(self.work_dir / "data"),
            "embedded_broker": {"port": 0},  # both chosen when HQ starts (a port picked early may be taken)
            "http": {"host": "127.0.0.1", "port": 0},
            "bulletins": {"tts_engines": ["espeak"]},  # offline, and what a commune without Internet uses
        }
        if self.database_url:
            raw["database"] = {"url": self.database_url}
        for key, value in self.settings.items():
            raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.raw = raw
        self.cfg = HqConfig.model_validate(raw)
        _, self.token = await admin_token(self.cfg, self.work_dir)
        return self.cfg

    async def start(self, timeout_s: float = 120.0) -> None:
        self.raw["embedded_broker"]["port"] = free_port()
        self.raw["http"]["port"] = free_port()
        self.config_path.write_text(yaml.safe_dump(self.raw, allow_unicode=True), "utf-8")
        self.cfg = HqConfig.model_validate(self.raw)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "hq_server.cli", "run", "--config",
                                          str(self.config_path)], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"HQ exited with {self.proc.returncode}: see {self.log_path}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(f"{self.base_url}/api/v1/openapi.json") as resp:
                        if resp.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"HQ did not answer within {timeout_s:.0f} s: see {self.log_path}")
                await asyncio.sleep(0.3)

    def process(self) -> psutil.Process:
        assert self.proc is not None
        return psutil.Process(self.proc.pid)

    def broker_process(self) -> psutil.Process | None:
        assert self.cfg is not None
        pid = running_pid(self.cfg.data_dir / "broker")
        return psutil.Process(pid) if pid else None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def metrics(self, http: aiohttp.ClientSession) -> dict[str, float]:
        """HQ's ``/metrics`` as {sample name with labels: value}."""
        async with http.get(f"{self.base_url}/metrics", headers=self.headers()) as resp:
            text = await resp.text()
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
        return out

    def stop(self, timeout_s: float = 60.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            broker = self.cfg and running_pid(self.cfg.data_dir / "broker")
            if broker:  # HQ was killed before it could stop its broker
                with contextlib.suppress(ProcessLookupError):
                    os.kill(broker, signal.SIGTERM)
