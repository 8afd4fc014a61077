"""Broker credentials of one commune: HQ's login, one login per node, and the ACL that follows from them.

Why a store of our own rather than editing Mosquitto's files: the password file holds only hashes, and
the ACL depends on each node's zones; both are *rendered* from this store (``passwd_text`` /
``acl_text``) whenever it changes, so the broker's files are never edited by hand and can always be
regenerated. The store is the one place that decides who may connect and what each user may read or
write; ``loaxa_link.mosquitto`` renders it into the running broker (SIGHUP, no restart).

Layout of ``root`` (directory 0700, files 0600, owned by the HQ user):

* ``hq.secret`` — HQ's own password in clear (HQ must present it to connect). Generated once.
* ``nodes.json`` — per node: its password hash (Mosquitto's ``$7$`` PBKDF2-SHA512; the clear password
  is shown once when it is issued and never stored), its zones (they decide which zone command topics
  it may read), when it was issued and, once revoked, when.

Every change takes an exclusive ``flock`` on ``root/.lock`` and rewrites the file atomically, so the
``hq-server node-credential`` command and a running HQ can both change the store.

The ACL is generated from the topic table (:mod:`loaxa_contract.topics`): a node may publish only the
topics its table rows mark ``node`` under its own ``node/{node}/…``; it may read only HQ's command topics
addressed to it, to its zones and to the whole commune. HQ may read and write everything of its commune.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from loaxa_contract import topics
from loaxa_contract.topics import TOPICS, check_id

HQ_USER = "loaxa-hq"
"""HQ's MQTT user name; reserved (no node may be called this)."""

PASSWORD_BYTES = 24
"""Random bytes of a generated password (32 URL-safe characters)."""


class CredentialError(ValueError):
    """A refused credential operation (unknown node, already issued, reserved name, bad zone)."""


def hash_password(password: str, iterations: int = 101) -> str:
    """Mosquitto's ``$7$`` PBKDF2-SHA512 password hash, so no ``mosquitto_passwd`` binary is needed.

    101 iterations is ``mosquitto_passwd``'s default; the passwords hashed here are 24 random bytes,
    so the iteration count does not have to make up for weak secrets.
    """
    salt = os.urandom(12)
    dk = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(dk).decode()}"


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class NodeCredential:
    """One node's broker login as stored (never the clear password)."""

    node: str
    password_hash: str
    zones: tuple[str, ...] = ()
    issued_at: str = field(default_factory=_now)
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "zones": list(self.zones)}

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> NodeCredential:
        zones = obj.get("zones") or []
        return cls(node=str(obj["node"]), password_hash=str(obj["password_hash"]),
                   zones=tuple(str(z) for z in zones) if isinstance(zones, list) else (),
                   issued_at=str(obj.get("issued_at") or ""),
                   revoked_at=str(obj["revoked_at"]) if obj.get("revoked_at") else None)


def write_private(path: Path, text: str) -> None:
    """Atomic write of a 0600 file (temp file in the same directory, fsync, rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class CredentialStore:
    """The broker users of one commune, kept in ``root`` (see the module docstring)."""

    def __init__(self, root: Path, commune: str) -> None:
        self.root = Path(root)
        self.commune = check_id(commune, "commune")

    # ------------------------------------------------------------------ files

    @property
    def nodes_path(self) -> Path:
        return self.root / "nodes.json"

    @property
    def hq_secret_path(self) -> Path:
        return self.root / "hq.secret"

    def _ensure_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):
            self.root.chmod(0o700)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._ensure_root()
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> dict[str, NodeCredential]:
        try:
            raw = json.loads(self.nodes_path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        return {n["node"]: NodeCredential.from_json(n) for n in raw.get("nodes", [])}

    def _save(self, creds: dict[str, NodeCredential]) -> None:
        body = {"commune": self.commune, "nodes": [c.to_json() for _, c in sorted(creds.items())]}
        write_private(self.nodes_path, json.dumps(body, indent=1, ensure_ascii=False) + "\n")

    # ------------------------------------------------------------------ HQ

    def hq_password(self) -> str:
        """HQ's password, generated (and kept, mode 0600) on first use."""
        with self._locked():
            if self.hq_secret_path.exists():
                return self.hq_secret_path.read_text("utf-8").strip()
            password = new_password()
            write_private(self.hq_secret_path, password + "\n")
            return password

    def hq_login(self) -> tuple[str, str]:
        """(user, password) for HQ-side clients: the orchestrator, the CLI, test taps."""
        return HQ_USER, self.hq_password()

    # ------------------------------------------------------------------ nodes

    def nodes(self, *, include_revoked: bool = False) -> list[NodeCredential]:
        return [c for _, c in sorted(self._load().items()) if include_revoked or c.active]

    def get(self, node: str) -> NodeCredential | None:
        cred = self._load().get(node)
        return cred if cred is not None and cred.active else None

    def add_node(self, node: str, zones: Iterable[str] = (), *, password: str | None = None,
                 replace_existing: bool = False) -> str:
        """Issue a credential for ``node``; returns its clear password (shown once, not stored).

        Refused for an id that already has an active credential unless ``replace_existing`` (a new
        password: the old one stops working at the broker's next reload).
        """
        check_id(node, "node")
        if node == HQ_USER:
            raise CredentialError(f"{HQ_USER!r} is HQ's own user name and cannot be a node id")
        zone_list = tuple(dict.fromkeys(check_id(z, "zone") for z in zones))
        password = password or new_password()
        with self._locked():
            creds = self._load()
            old = creds.get(node)
            if old is not None and old.active and not replace_existing:
                raise CredentialError(f"node {node!r} already has a credential (issued {old.issued_at})")
            creds[node] = NodeCredential(node=node, password_hash=hash_password(password), zones=zone_list)
            self._save(creds)
        return password

    def add_nodes(self, nodes: dict[str, Iterable[str]]) -> dict[str, str]:
        """Issue (or re-issue) credentials for many nodes at once; returns each clear password.

        One lock, one read and one write of the store for the whole batch: issuing 10 000 simulated
        nodes one :meth:`add_node` at a time rewrites the file 10 000 times (quadratic).
        """
        issued: dict[str, tuple[str, NodeCredential]] = {}
        for node, zones in nodes.items():
            check_id(node, "node")
            if node == HQ_USER:
                raise CredentialError(f"{HQ_USER!r} is HQ's own user name and cannot be a node id")
            password = new_password()
            zone_list = tuple(dict.fromkeys(check_id(z, "zone") for z in zones))
            issued[node] = password, NodeCredential(node=node, password_hash=hash_password(password), zones=zone_list)
        with self._locked():
            creds = self._load()
            creds.update({node: cred for node, (_, cred) in issued.items()})
            self._save(creds)
        return {node: password for node, (password, _) in issued.items()}

    def set_zones_many(self, nodes: dict[str, Iterable[str]]) -> bool:
        """:meth:`set_zones` for many nodes under one lock; True if any changed. Unknown nodes are refused."""
        with self._locked():
            creds = self._load()
            changed = False
            for node, zones in nodes.items():
                cred = creds.get(node)
                if cred is None or not cred.active:
                    raise CredentialError(f"node {node!r} has no credential")
                zone_list = tuple(dict.fromkeys(check_id(z, "zone") for z in zones))
                if cred.zones != zone_list:
                    creds[node], changed = replace(cred, zones=zone_list), True
            if changed:
                self._save(creds)
        return changed

    def revoke_node(self, node: str) -> bool:
        """Revoke ``node``'s credential; False if it had none. The record stays, marked revoked."""
        with self._locked():
            creds = self._load()
            cred = creds.get(node)
            if cred is None or not cred.active:
                return False
            creds[node] = replace(cred, revoked_at=_now())
            self._save(creds)
        return True

    def set_zones(self, node: str, zones: Iterable[str]) -> bool:
        """Set the zones whose command topics ``node`` may read; True if they changed.

        HQ's zone registry calls this (then reloads the broker) when it moves a node to another zone.
        """
        zone_list = tuple(dict.fromkeys(check_id(z, "zone") for z in zones))
        with self._locked():
            creds = self._load()
            cred = creds.get(node)
            if cred is None or not cred.active:
                raise CredentialError(f"node {node!r} has no credential")
            if cred.zones == zone_list:
                return False
            creds[node] = replace(cred, zones=zone_list)
            self._save(creds)
        return True

    # ------------------------------------------------------------------ rendering for the broker

    def passwd_text(self) -> str:
        """Mosquitto ``password_file``: HQ and every active node."""
        lines = [f"{HQ_USER}:{hash_password(self.hq_password())}"]
        lines += [f"{c.node}:{c.password_hash}" for c in self.nodes()]
        return "\n".join(lines) + "\n"

    def acl_text(self) -> str:
        return "\n".join(commune_acl(self.commune, {c.node: c.zones for c in self.nodes()})) + "\n"


def commune_acl(commune: str, node_zones: dict[str, tuple[str, ...]]) -> list[str]:
    """Mosquitto ACL lines for a commune, generated from the topic table.

    ``pattern`` lines apply to every user with ``%u`` replaced by the user name (a node's user name is
    its node id); zone command topics differ per node, so they go in one ``user`` block each.
    Mosquitto grants a denied SUBSCRIBE and then delivers nothing, and refuses a denied QoS 1 PUBLISH
    only with PUBACK reason 135: these lines are the guard, clients get no error to rely on.
    """
    root = f"{topics.ROOT}/{commune}"
    lines = ["# generated by LoaXa from its credential store; edit with `hq-server node-credential`", "",
             "# every node: publish only its own topics, read the commands addressed to it or to all"]
    for spec in TOPICS.values():
        names = topics.placeholders(spec.kind)
        if spec.publisher not in ("node", "hq"):
            raise ValueError(f"topic {spec.path!r}: publisher must be 'node' or 'hq', not {spec.publisher!r}")
        if spec.publisher == "node":
            # a row outside node/{node}/ would let any node write it: the table must not have one
            if not spec.path.startswith("node/{node}/"):
                raise ValueError(f"node-published topic {spec.path!r} is not under node/{{node}}/")
            lines.append(f"pattern write {topics.pattern(spec.kind, commune, node='%u')}")
        elif "zone" in names:
            continue  # per node, below
        elif set(names) <= {"node"}:
            lines.append(f"pattern read {topics.pattern(spec.kind, commune, node='%u')}")
    lines += ["", "# HQ: everything of the commune", f"user {HQ_USER}", f"topic readwrite {root}/#"]
    zone_kinds = [s.kind for s in TOPICS.values() if s.publisher == "hq" and "zone" in topics.placeholders(s.kind)]
    for node, zones in sorted(node_zones.items()):
        if not zones:
            continue
        lines += ["", f"user {node}"]
        lines += [f"topic read {topics.pattern(kind, commune, zone=z)}" for z in zones for kind in zone_kinds]
    return lines
