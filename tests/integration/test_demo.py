"""README's first command, minus the setup: the demo runs HQ + a simulated village end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loaxa_link.mosquitto import free_port

pytestmark = pytest.mark.integration


def test_demo_once_plays_the_bulletin_in_zone_one(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "loaxa-sim"
    res = subprocess.run([exe, "demo", "--once", "--data-dir", tmp_path, "--http-port", str(free_port())],
                         capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "completed" in res.stdout
    assert res.stdout.count(" played /") == 2  # both thon-1 nodes, neither thon-2 node
    wavs = sorted(tmp_path.glob("village/*/played/*.wav"))
    assert [w.parent.parent.name for w in wavs] == ["thon-1-loa-1", "thon-1-loa-2"]
    assert (tmp_path / "admin.secret").stat().st_mode & 0o777 == 0o600
