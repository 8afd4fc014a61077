"""Accounts: argon2 password hashing, session and API tokens, roles (the login limiter: login_limiter.py).

Tokens are random 32-byte values; only their SHA-256 is stored, so a copy of the database does not
let anyone log in. Sessions carry a CSRF token that browsers must echo in ``X-CSRF-Token`` on every
state-changing request (scripts use ``Authorization: Bearer`` tokens and need no CSRF token).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
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


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    """:func:`verify_password` in a worker thread: argon2 takes ~0.1 s of CPU and must not stall the event loop."""
    return await asyncio.to_thread(verify_password, password_hash, password)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # surrogatepass: a header or cookie with undecodable bytes (surrogate-escaped by aiohttp) hashes to
    # something that matches no token, instead of raising UnicodeEncodeError
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
