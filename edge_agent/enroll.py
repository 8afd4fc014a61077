"""``edge-agent enroll https://hq… CODE``: fetch this node's bundle from HQ over verified TLS and install it.

Trust, step by step (see :mod:`loaxa_contract.enrolment` for the code):

1. With a pin in the code, fetch HQ's CA certificate (the one connection that is not verified) and
   refuse it unless its SHA-256 matches the pin; without a pin, trust only the system's authorities
   (HQ behind a public certificate).
2. Redeem the code over HTTPS verified by that CA (certificate chain *and* host name).
3. Check the bundle: exactly the node's files, a CA that matches the pin, a config that loads.
4. Write the files (config and password readable by the service's group only) and point the config
   at where they were written.

No step reads a secret from an unverified peer, and nothing is written before every check passed.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from edge_agent.config import ConfigError, parse_config
from loaxa_common.cli_text import _
from loaxa_contract.enrolment import (
    BUNDLE_FILES,
    CA_PATH,
    ENROL_PATH,
    Bundle,
    EnrolmentCodeError,
    parse_code,
    pin_of,
)

DEFAULT_DIR = Path("/etc/loaxa")
SERVICE_GROUP = "loaxa"
_MODES = {"node.yaml": 0o640, "mqtt-password": 0o640, "ca.crt": 0o644, "hq_ed25519.pub": 0o644}


class EnrolError(RuntimeError):
    """Enrolment refused or failed; the message says why and what to do (technician's language)."""


@dataclass(frozen=True)
class Enrolled:
    node: str
    directory: Path
    ca_fingerprint: str
    hq_key_fingerprint: str


def _der_sha256(pem: bytes) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.decode("ascii"))).hexdigest()


def _request(method: str, url: str, *, verify: str | bool, timeout: float, **kw: Any) -> Any:
    import requests  # lazy: the running agent does not need it
    import urllib3

    try:
        with contextlib.ExitStack() as stack:
            if verify is False:  # step 1 only: the pin, not TLS, authenticates what comes back
                stack.enter_context(_quiet_insecure(urllib3))
            return requests.request(method, url, verify=verify, timeout=timeout, **kw)
    except requests.exceptions.SSLError as err:
        raise EnrolError(_("HQ's HTTPS certificate was refused ({error}): is the address right, and is HQ's "
                           "certificate issued for {host}?").format(error=err, host=urlsplit(url).hostname)) from err
    except requests.RequestException as err:
        raise EnrolError(_("cannot reach HQ at {url}: {error}").format(url=url, error=err)) from err


@contextlib.contextmanager
def _quiet_insecure(urllib3: Any) -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        yield


def _trusted_ca(base: str, pin: str, timeout: float) -> bytes:
    resp = _request("GET", base + CA_PATH, verify=False, timeout=timeout)
    if resp.status_code != 200:
        raise EnrolError(_("HQ did not give its CA certificate (HTTP {status})").format(status=resp.status_code))
    pem = resp.content
    try:
        fp = _der_sha256(pem)
    except ValueError as err:
        raise EnrolError(_("HQ's answer is not a certificate")) from err
    if pin_of(fp) != pin:
        raise EnrolError(_("the CA fingerprint does not match the code: this is not your commune's HQ, or the "
                           "code was mistyped. Nothing was installed."))
    return pem


def _redeem(base: str, secret: str, verify: str | bool, timeout: float) -> Bundle:
    resp = _request("POST", base + ENROL_PATH, verify=verify, timeout=timeout, json={"code": secret})
    if resp.status_code == 404:
        raise EnrolError(_("HQ does not know this code, or it was already used: ask HQ for a new code"))
    if resp.status_code == 410:
        raise EnrolError(_("this code has expired: ask HQ for a new code"))
    if resp.status_code == 429:
        raise EnrolError(_("too many wrong codes from this address: wait a few minutes"))
    if resp.status_code != 200:
        raise EnrolError(_("HQ refused the enrolment (HTTP {status}): {body}").format(status=resp.status_code,
                                                                                      body=resp.text[:200]))
    try:
        return Bundle.from_json(resp.json())
    except ValueError as err:
        raise EnrolError(_("HQ's bundle is incomplete: {error}").format(error=err)) from err


def _localise(node_yaml: bytes, directory: Path, state_dir: Path | None) -> bytes:
    """Point the config's file paths at ``directory`` (they name /etc/loaxa in the bundle)."""
    data = yaml.safe_load(node_yaml)
    for section, key in (("broker", "password_file"), ("security", "hq_public_key"), ("audio", "hq_ca")):
        value = data.get(section, {}).get(key)
        if isinstance(value, str):
            data[section][key] = str(directory / Path(value).name)
    tls = data.get("broker", {}).get("tls")
    if isinstance(tls, dict) and isinstance(tls.get("ca"), str):
        tls["ca"] = str(directory / Path(tls["ca"]).name)
    if state_dir is not None:
        data["state_dir"] = str(state_dir)
    header = b"".join(line + b"\n" for line in node_yaml.splitlines() if line.startswith(b"#"))
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")


def _write(bundle: Bundle, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    gid = None
    if os.geteuid() == 0:
        with contextlib.suppress(KeyError):
            gid = grp.getgrnam(SERVICE_GROUP).gr_gid
    for name in BUNDLE_FILES:
        path = directory / name
        mode = _MODES[name] if gid is not None or name not in ("node.yaml", "mqtt-password") else 0o600
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(bundle.files[name])
        if gid is not None:
            os.chown(tmp, 0, gid)
        os.chmod(tmp, mode)
        os.replace(tmp, path)


def enroll(url: str, code: str, directory: Path = DEFAULT_DIR, *, state_dir: Path | None = None,
           timeout: float = 20.0) -> Enrolled:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise EnrolError(_("give HQ's address as https://…: enrolment never runs over plain HTTP"))
    try:
        secret, pin = parse_code(code)
    except EnrolmentCodeError as err:
        raise EnrolError(_("this is not an enrolment code ({error})").format(error=err)) from err
    base = url.rstrip("/")
    with tempfile.TemporaryDirectory() as tmp:
        verify: str | bool = True
        if pin is not None:
            ca = Path(tmp) / "ca.crt"
            ca.write_bytes(_trusted_ca(base, pin, timeout))
            verify = str(ca)
        bundle = _redeem(base, secret, verify, timeout)
    if pin is not None and pin_of(_der_sha256(bundle.files["ca.crt"])) != pin:
        raise EnrolError(_("the bundle's CA does not match the code; nothing was installed"))
    directory = directory.resolve()
    bundle.files["node.yaml"] = _localise(bundle.files["node.yaml"], directory, state_dir)
    try:
        parse_config(yaml.safe_load(bundle.files["node.yaml"]), source="bundle", base=directory)
    except ConfigError as err:
        raise EnrolError(_("HQ's config for this node does not load here: {error}").format(error=err)) from err
    _write(bundle, directory)
    return Enrolled(bundle.node, directory, bundle.ca_fingerprint, bundle.hq_key_fingerprint)
