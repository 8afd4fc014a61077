"""The install scripts, run for real in their --destdir and --dry-run modes (no systemd, no apt, no users).

--destdir writes the tree that would land on the machine, so the placed config, the udev rule and the
systemd unit rendered for this checkout can be inspected and verified with ``systemd-analyze verify``
(the same check the script runs on a Pi). --dry-run shows what would change on the machine and changes
nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from loaxa_contract import signing

REPO = Path(__file__).resolve().parents[2]
NODE_INSTALL = REPO / "scripts" / "install-node.sh"
HQ_INSTALL = REPO / "scripts" / "install-hq.sh"
EN = {**os.environ, "LANG": "en_US.UTF-8", "LANGUAGE": "", "LC_ALL": ""}


def _run(script: Path, *args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script), *map(str, args)], capture_output=True, text=True, timeout=120,
                          env=env or EN)


def _verify(unit: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze missing: scripts/setup.sh installs the systemd package")
    res = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and not (res.stdout + res.stderr).strip(), res.stdout + res.stderr


@pytest.fixture
def node_yaml(tmp_path: Path) -> Path:
    """The production example, with the files it names created in a temp dir (as a bundle would)."""
    _, pub = signing.generate_keypair(tmp_path / "keys")
    (tmp_path / "mqtt-password").write_text("bi-mat\n")
    from loaxa_common.certs import make_ca

    ca, _ = make_ca(tmp_path / "pki", "xa-demo")
    data = yaml.safe_load((REPO / "firmware_configs" / "speaker-node.example.yaml").read_text("utf-8"))
    data["security"]["hq_public_key"] = str(pub)
    data["broker"].update(password_file=str(tmp_path / "mqtt-password"), tls={"ca": str(ca)})
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def test_node_install_into_destdir(tmp_path: Path, node_yaml: Path) -> None:
    dest = tmp_path / "root"
    res = _run(NODE_INSTALL, "--destdir", dest, "--no-apt", "--skip-venv", "--config", node_yaml)
    assert res.returncode == 0, res.stdout + res.stderr
    placed = dest / "etc" / "loaxa" / "node.yaml"
    assert placed.read_text() == node_yaml.read_text()
    assert placed.stat().st_mode & 0o777 == 0o640
    rule = (dest / "etc" / "udev" / "rules.d" / "60-loaxa-gpiochip.rules").read_text()
    assert 'GROUP="gpio"' in rule and "gpiochip" in rule
    unit = dest / "etc" / "systemd" / "system" / "loaxa-edge-agent.service"
    text = unit.read_text()
    assert f"ExecStart={REPO}/.venv/bin/edge-agent run --config /etc/loaxa/node.yaml" in text
    assert "/opt/loaxa" not in text
    _verify(unit)
    # the production example is clean: no demo warnings
    assert "WARNING" not in res.stdout, res.stdout
    # users, groups and services are the machine's business: only announced under --destdir
    assert "(destdir) systemctl enable --now loaxa-edge-agent.service" in res.stdout
    # a second run with another config keeps the first as a backup
    changed = node_yaml.read_text().replace("thon-1-loa-1", "thon-1-loa-2")
    (tmp_path / "node2.yaml").write_text(changed)
    again = _run(NODE_INSTALL, "--destdir", dest, "--no-apt", "--skip-venv", "--config", tmp_path / "node2.yaml")
    assert again.returncode == 0, again.stderr
    assert placed.read_text() == changed
    backups = list(placed.parent.glob("node.yaml.bak-*"))
    assert len(backups) == 1 and backups[0].read_text() == node_yaml.read_text()


def test_node_install_dry_run_changes_nothing(tmp_path: Path, node_yaml: Path) -> None:
    res = _run(NODE_INSTALL, "--dry-run", "--no-apt", "--config", node_yaml)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert f"+ install -m 0640 -o root -g loaxa {node_yaml} /etc/loaxa/node.yaml" in out
    assert "+ systemctl enable --now loaxa-edge-agent.service" in out
    assert "pip install -q " + f"{REPO}[edge]" in out  # a node gets the edge extra only
    if subprocess.run(["getent", "passwd", "loaxa"], capture_output=True).returncode != 0:
        assert "+ useradd --system --user-group --home-dir /var/lib/loaxa" in out
        assert not Path("/etc/loaxa/node.yaml").exists()


def test_node_install_refuses_bad_arguments(tmp_path: Path) -> None:
    res = _run(NODE_INSTALL, "--dry-run", "--bogus")
    assert res.returncode == 1 and "--bogus" in res.stderr
    (tmp_path / "bundle").mkdir()
    res = _run(NODE_INSTALL, "--dry-run", "--bundle", tmp_path / "bundle")
    assert res.returncode == 1 and "node.yaml" in res.stderr


def test_node_install_stops_on_an_invalid_config(tmp_path: Path, node_yaml: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(node_yaml.read_text().replace("keepalive_s: 30", "keepalive: 30"))
    res = _run(NODE_INSTALL, "--destdir", tmp_path / "root", "--no-apt", "--skip-venv", "--config", bad)
    # under --destdir the config's paths name the target machine, so a failure is reported, not fatal;
    # the reason is shown either way
    assert "keepalive" in res.stdout + res.stderr


def test_hq_install_into_destdir_makes_the_commune_certificates(tmp_path: Path) -> None:
    dest = tmp_path / "root"
    data = dest / "var" / "lib" / "loaxa-hq"
    text = (REPO / "firmware_configs" / "hq.example.yaml").read_text("utf-8").replace("/var/lib/loaxa-hq", str(data))
    cfg = tmp_path / "hq.yaml"
    cfg.write_text(text)
    res = _run(HQ_INSTALL, "--destdir", dest, "--no-apt", "--skip-venv", "--config", cfg,
               "--broker-name", "127.0.0.1", "--broker-name", "mqtt.xa-demo.vn")
    assert res.returncode == 0, res.stdout + res.stderr
    from loaxa_common.certs import describe

    server = describe(data / "tls" / "server.crt")
    assert server.dns_names == ("mqtt.xa-demo.vn",) and server.ip_addresses == ("127.0.0.1",)
    assert (data / "tls" / "ca.key").stat().st_mode & 0o777 == 0o600
    unit = dest / "etc" / "systemd" / "system" / "loaxa-hq.service"
    assert f"ExecStart={REPO}/.venv/bin/hq-server run --config /etc/loaxa/hq.yaml" in unit.read_text()
    _verify(unit)
    # re-running keeps the CA (every node trusts it)
    before = (data / "tls" / "ca.crt").read_bytes()
    again = _run(HQ_INSTALL, "--destdir", dest, "--no-apt", "--skip-venv", "--config", cfg, "--broker-name", "x")
    assert again.returncode == 0, again.stderr
    assert (data / "tls" / "ca.crt").read_bytes() == before


def test_packages_of_a_node_exclude_hq_and_test_only_ones() -> None:
    res = subprocess.run(["bash", "-c", f"source {REPO}/scripts/packages.sh; echo ${{NODE_PACKAGES[@]}}"],
                         capture_output=True, text=True, check=True)
    node = set(res.stdout.split())
    assert {"espeak-ng", "ffmpeg", "alsa-utils", "gpiod", "python3-venv"} <= node
    assert not node & {"postgresql", "mosquitto", "gstreamer1.0-rtsp", "python3-gi"}


def _script_messages() -> set[str]:
    import re

    text = "".join(p.read_text() for p in (REPO / "scripts").glob("install-*.sh"))
    return set(re.findall(r'\b(?:say|step|warn|die) "([^"$][^"]*)"', text))


def test_every_install_message_is_in_the_catalog() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("install_messages", REPO / "scripts" / "install_messages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    used = _script_messages()
    assert used and used <= set(module.MESSAGES), used - set(module.MESSAGES)
    from babel.messages.pofile import read_po

    with (REPO / "loaxa_common" / "locale" / "vi" / "LC_MESSAGES" / "loaxa.po").open("rb") as fh:
        vi = {m.id: m.string for m in read_po(fh) if m.id}
    assert all(vi.get(m) for m in used), [m for m in used if not vi.get(m)]


def test_install_msg_reads_the_catalog_like_babel() -> None:
    """The installers' stdlib PO reader agrees with Babel on every entry of both catalogs."""
    import importlib.util

    from babel.messages.pofile import read_po

    spec = importlib.util.spec_from_file_location("install_msg", REPO / "scripts" / "install_msg.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for lang in ("vi", "en"):
        path = REPO / "loaxa_common" / "locale" / lang / "LC_MESSAGES" / "loaxa.po"
        with path.open("rb") as fh:
            babel = {m.id: m.string for m in read_po(fh) if isinstance(m.id, str) and m.id and m.string
                     and not m.fuzzy}
        assert module.read_po(path) == babel


@pytest.mark.parametrize(("lang", "expected"), [("C.UTF-8", "Đang tạo nhóm gpio"), ("", "Đang tạo nhóm gpio"),
                                                ("en_US.UTF-8", "Creating the group gpio")])
def test_install_messages_follow_the_language(lang: str, expected: str) -> None:
    env = {**os.environ, "LANG": lang, "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": ""}
    res = subprocess.run(["python3", str(REPO / "scripts" / "install_msg.py"), "Creating the group {group}",
                          "group=gpio"], capture_output=True, text=True, env=env, timeout=30)
    assert res.stdout.strip() == expected
