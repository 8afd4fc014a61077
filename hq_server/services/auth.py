"""Accounts: argon2 password hashing, session and API tokens, roles, login rate limiting.

Tokens are random 32-byte values; only their SHA-256 is stored, so a copy of the database does not
let anyone log in. Sessions carry a CSRF token that browsers must echo in ``X-CSRF-Token`` on every
state-changing request (scripts use ``Authorization: Bearer`` tokens and need no CSRF token).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import defaultdict, deque
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()
# verified against when the user does not exist, so timing does not reveal valid user names
_DUMMY_HASH = _HASHER.hash("loaxa-dummy-password")


class Role(StrEnum):
    ADMIN = "admin"
    BROADCASTER = "broadcaster"
    TECHNICIAN = "technician"
    POLICE = "police"


class Perm(StrEnum):
    BULLETIN_READ = "bulletin:read"
    BULLETIN_WRITE = "bulletin:write"
    BULLETIN_APPROVE = "bulletin:approve"
    FLEET_READ = "fleet:read"
    FLEET_WRITE = "fleet:write"
    SETTINGS_WRITE = "settings:write"  # programme windows, volume
    CAMERA_READ = "camera:read"
    CAMERA_SNAPSHOT = "camera:snapshot"
    DETECTION_READ = "detection:read"  # detection events and their pictures (people): police only
    ALERT_READ = "alert:read"
    ALERT_WRITE = "alert:write"
    REPORT_READ = "report:read"
    AUDIT_READ = "audit:read"
    USER_ADMIN = "user:admin"
    METRICS = "metrics"


ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    Role.BROADCASTER: frozenset({Perm.BULLETIN_READ, Perm.BULLETIN_WRITE, Perm.BULLETIN_APPROVE, Perm.FLEET_READ,
                                 Perm.SETTINGS_WRITE,
                                 Perm.REPORT_READ, Perm.METRICS}),
    Role.TECHNICIAN: frozenset({Perm.BULLETIN_READ, Perm.FLEET_READ, Perm.FLEET_WRITE, Perm.CAMERA_READ,
                                Perm.CAMERA_SNAPSHOT, Perm.SETTINGS_WRITE,
                                Perm.ALERT_READ, Perm.ALERT_WRITE, Perm.REPORT_READ, Perm.METRICS}),
    Role.POLICE: frozenset({Perm.CAMERA_READ, Perm.CAMERA_SNAPSHOT, Perm.DETECTION_READ, Perm.ALERT_READ,
                            Perm.ALERT_WRITE}),
}


def allowed(role: str, perm: Perm) -> bool:
    try:
        return perm in ROLE_PERMS[Role(role)]
    except ValueError:
        return False


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # surrogatepass: a header or cookie with undecodable bytes (surrogate-escaped by aiohttp) hashes to
    # something that matches no token, instead of raising UnicodeEncodeError
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class LoginLimiter:
    """At most ``max_failures`` failed logins per window, per client address and per user name.

    In memory: enough for one HQ process; an attacker who restarts HQ has bigger powers anyway.
    """

    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max = max_failures
        self.window = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        q = self._failures[key]
        cutoff = time.monotonic() - self.window
        while q and q[0] < cutoff:
            q.popleft()
        return q

    def retry_after(self, ip: str, username: str) -> float:
        """Seconds until another attempt is allowed (0 = allowed now)."""
        waits = []
        for key in (f"ip:{ip}", f"user:{username.lower()}"):
            q = self._recent(key)
            if len(q) >= self.max:
                waits.append(q[0] + self.window - time.monotonic())
        return max(waits, default=0.0)

    def failed(self, ip: str, username: str) -> None:
        now = time.monotonic()
        self._failures[f"ip:{ip}"].append(now)
        self._failures[f"user:{username.lower()}"].append(now)

    def succeeded(self, username: str) -> None:
        self._failures.pop(f"user:{username.lower()}", None)
