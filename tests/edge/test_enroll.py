"""``edge-agent enroll`` against an HTTPS server on 127.0.0.1 that answers like HQ's enrolment routes.

The node's side of the trust chain: the CA is accepted only when it matches the pin in the code, the
code travels only over TLS verified by that CA (host name included), the bundle's CA must match the
pin too, and nothing is written unless every check passed. HQ's real routes are exercised end to end
in tests/integration/test_deployment.py.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from edge_agent.config import load_config
from edge_agent.enroll import EnrolError, enroll
from hq_server.provisioning import Endpoints, NodeRequest, build_bundle
from loaxa_common.certs import describe, issue_server_cert, make_ca
from loaxa_contract import signing
from loaxa_contract.enrolment import CA_PATH, ENROL_PATH, format_code, pin_of
from loaxa_link.mosquitto import free_port

SECRET = "K7QM2XPA"


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGE", "en")


class FakeHq:
    def __init__(self, tmp: Path, names: list[str]) -> None:
        self.ca, _ = make_ca(tmp / "pki", "xa-test")
        self.cert, self.key = issue_server_cert(tmp / "pki", tmp / "pki", names, stem="https")
        _, pub = signing.generate_keypair(tmp / "keys")
        self.bundle = build_bundle(NodeRequest("loa-moi", ("thon-1",)), "xa-test", "mat-khau-moi",
                                   Endpoints("127.0.0.1", 8883, "https://127.0.0.1:1"), ca_pem=self.ca.read_bytes(),
                                   hq_public_pem=pub.read_bytes()).to_json()
        self.pin = pin_of(describe(self.ca).sha256)
        self.ca_served = self.ca.read_bytes()
        self.status = 200
        self.codes_seen: list[str] = []

    async def get_ca(self, request: web.Request) -> web.Response:
        return web.Response(body=self.ca_served)

    async def redeem(self, request: web.Request) -> web.Response:
        self.codes_seen.append((await request.json())["code"])
        if self.status != 200:
            return web.json_response({"error": "no"}, status=self.status)
        return web.json_response(self.bundle)


@pytest.fixture
async def hq(tmp_path: Path) -> AsyncIterator[tuple[FakeHq, str]]:
    fake = FakeHq(tmp_path, ["127.0.0.1"])
    app = web.Application()
    app.router.add_get(CA_PATH, fake.get_ca)
    app.router.add_post(ENROL_PATH, fake.redeem)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(fake.cert, fake.key)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
    yield fake, f"https://127.0.0.1:{port}"
    await runner.cleanup()


async def _enroll(*args: Any, **kw: Any):
    import asyncio

    return await asyncio.to_thread(enroll, *args, **kw)


async def test_enrol_with_pinned_ca_installs_a_loadable_config(hq, tmp_path: Path) -> None:
    fake, url = hq
    etc = tmp_path / "etc"
    done = await _enroll(url, format_code(SECRET, fake.pin).lower(), etc, state_dir=tmp_path / "state")
    assert done.node == "loa-moi" and fake.codes_seen == [SECRET]  # only the secret goes to HQ
    cfg = load_config(etc / "node.yaml")
    assert cfg.broker.tls.ca == etc / "ca.crt" and cfg.broker.password_file == etc / "mqtt-password"
    assert cfg.broker_password() == "mat-khau-moi" and cfg.state_dir == tmp_path / "state"
    assert (etc / "mqtt-password").stat().st_mode & 0o777 == 0o600  # no loaxa group here: owner only
    assert (etc / "node.yaml").read_text().startswith("# LoaXa node loa-moi")


async def test_a_ca_that_does_not_match_the_pin_is_refused_and_nothing_is_written(hq, tmp_path: Path) -> None:
    fake, url = hq
    fake.ca_served = make_ca(tmp_path / "evil", "xa-gia")[0].read_bytes()
    with pytest.raises(EnrolError, match="fingerprint"):
        await _enroll(url, format_code(SECRET, fake.pin), tmp_path / "etc")
    assert fake.codes_seen == [] and not (tmp_path / "etc").exists()


async def test_server_certificate_for_another_name_is_refused(tmp_path: Path) -> None:
    fake = FakeHq(tmp_path, ["hq.xa-khac.vn"])
    app = web.Application()
    app.router.add_get(CA_PATH, fake.get_ca)
    app.router.add_post(ENROL_PATH, fake.redeem)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(fake.cert, fake.key)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
    try:
        with pytest.raises(EnrolError, match="certificate"):
            await _enroll(f"https://127.0.0.1:{port}", format_code(SECRET, fake.pin), tmp_path / "etc")
        assert fake.codes_seen == []  # the secret never left over a connection to the wrong name
    finally:
        await runner.cleanup()


async def test_bundle_with_another_ca_is_refused(hq, tmp_path: Path) -> None:
    fake, url = hq
    fake.bundle["files"]["ca.crt"] = make_ca(tmp_path / "other", "xa-khac")[0].read_text()
    with pytest.raises(EnrolError, match="bundle's CA"):
        await _enroll(url, format_code(SECRET, fake.pin), tmp_path / "etc")
    assert not (tmp_path / "etc").exists()


@pytest.mark.parametrize(("status", "words"), [(404, "already used"), (410, "expired"), (429, "too many")])
async def test_hq_refusals_are_explained(hq, tmp_path: Path, status: int, words: str) -> None:
    fake, url = hq
    fake.status = status
    with pytest.raises(EnrolError, match=words):
        await _enroll(url, format_code(SECRET, fake.pin), tmp_path / "etc")


async def test_plain_http_and_garbage_codes_are_refused_before_any_request(tmp_path: Path) -> None:
    with pytest.raises(EnrolError, match="https"):
        await _enroll("http://127.0.0.1:1", "K7QM-2XPA", tmp_path)
    with pytest.raises(EnrolError):
        await _enroll("https://127.0.0.1:1", "12", tmp_path)


async def test_code_without_pin_trusts_only_public_authorities(hq, tmp_path: Path) -> None:
    _fake, url = hq  # the commune CA is not a public authority: refused
    with pytest.raises(EnrolError, match="certificate"):
        await _enroll(url, SECRET, tmp_path / "etc")


def test_bundle_yaml_keeps_its_header(tmp_path: Path) -> None:
    from edge_agent.enroll import _localise

    text = b"# LoaXa node x\nnode: {id: x, commune: y}\nsecurity: {hq_public_key: /etc/loaxa/hq_ed25519.pub}\n"
    out = _localise(text, tmp_path, None)
    assert out.startswith(b"# LoaXa node x\n")
    assert yaml.safe_load(out)["security"]["hq_public_key"] == str(tmp_path / "hq_ed25519.pub")
