"""Node provisioning over HTTP: technicians get an enrolment code; a new node redeems it once.

* ``POST /api/v1/nodes/{id}/enrolment`` (technician, admin): issue the node's broker login (applied to
  the running broker at once) and a one-time code for its bundle; the answer shows the code, when it
  expires and the fingerprints a technician compares on the node.
* ``DELETE /api/v1/nodes/{id}/credential`` (technician, admin): revoke the node's login — the broker
  drops the node at once — and its pending codes.
* ``GET /api/v1/enrol/ca`` (public): the commune CA certificate. Its authenticity comes from the pin
  in the code, checked by the node, not from this connection.
* ``POST /api/v1/enrol`` (public): the bundle for a valid code, once. Wrong codes are limited per
  address (the secret has 40 bits; 10 tries per 15 minutes makes guessing hopeless).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from hq_server import node_provisioning as prov
from hq_server.enrolment import EnrolmentError
from hq_server.provisioning import NodeRequest
from hq_server.services import zones as zone_registry
from hq_server.services.auth import Perm
from hq_server.web import (
    AUDIT_DETAIL,
    BROKER_TLS_PORT,
    CONFIG,
    DB,
    ORCH,
    ApiError,
    Routes,
    client_ip,
    json_response,
    parse_body,
    path_slug,
)
from loaxa_contract.enrolment import CA_PATH, ENROL_PATH, EnrolmentCodeError, parse_code
from loaxa_link.credentials import CredentialError

routes = Routes()

MAX_FAILURES = 10
FAILURE_WINDOW_S = 900.0
_failures_by_app: weakref.WeakKeyDictionary[web.Application, dict[str, deque[float]]] = weakref.WeakKeyDictionary()


class EnrolmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["speaker", "camera", "mixed"] = "speaker"
    zones: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=20, description="Zones by slug or name (\"thon-1\", \"Thôn 1\")")
    replace: bool = Field(default=False, description="Issue a new login for a node that has one (new hardware)")


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=64)


@routes.route("POST", "/api/v1/nodes/{id}/enrolment", perm=Perm.FLEET_WRITE, body=EnrolmentIn,
              summary="Provision a node: its broker login and a one-time enrolment code for its files")
async def create_enrolment(request: web.Request) -> web.Response:
    node = path_slug(request)
    body = await parse_body(request, EnrolmentIn)
    async with request.app[DB].sessions() as session:
        slugs = (await zone_registry.load(session)).resolve(body.zones, "zones")  # 400 with "did you mean"
    req = NodeRequest(node=node, zones=tuple(slugs), kind=body.kind)
    try:
        done = await asyncio.to_thread(prov.provision, request.app[CONFIG], req, replace=body.replace, code=True,
                                       running_tls_port=request.app.get(BROKER_TLS_PORT) or None)
    except CredentialError as err:
        raise ApiError(409, f"Nút đã có tài khoản; dùng replace để cấp lại (node already has a login): {err}",
                       {"replace": "true to issue a new login"}) from err
    except prov.ProvisioningError as err:
        raise ApiError(409, f"Máy chủ xã chưa sẵn sàng cấp cấu hình (HQ cannot provision yet): {err}") from err
    request[AUDIT_DETAIL] = {"node": node, "kind": body.kind, "zones": slugs, "replace": body.replace}
    return json_response({"node": node, "code": done.code, "expires_at": done.expires_at,
                          "ca_fingerprint": done.bundle.ca_fingerprint,
                          "hq_key_fingerprint": done.bundle.hq_key_fingerprint,
                          "broker_applied": done.broker_applied}, 201)


@routes.route("DELETE", "/api/v1/nodes/{id}/credential", perm=Perm.FLEET_WRITE,
              summary="Revoke a node's broker login (disconnected at once) and its pending enrolment codes")
async def revoke_credential(request: web.Request) -> web.Response:
    node = path_slug(request)
    try:
        revoked, applied = await asyncio.to_thread(prov.revoke, request.app[CONFIG], node)
    except prov.ProvisioningError as err:
        raise ApiError(503, f"Broker chưa áp dụng việc thu hồi (the broker did not apply it): {err}") from err
    if not revoked:
        raise ApiError(404, f"Nút {node} không có tài khoản đang hoạt động (no active login)")
    await prov.forget_revoked(request.app[ORCH].outbound, request.app[DB].sessions, request.app[CONFIG].commune, node)
    request[AUDIT_DETAIL] = {"node": node}
    return json_response({"node": node, "revoked": True, "broker_applied": applied})


@routes.route("GET", CA_PATH, perm=None, summary="The commune CA certificate (nodes check it against their code)")
async def get_ca(request: web.Request) -> web.Response:
    path = prov.ca_file(request.app[CONFIG])
    try:
        pem = await asyncio.to_thread(path.read_bytes)
    except OSError as err:
        raise ApiError(404, "Máy chủ xã chưa có CA (no commune CA yet: hq-server make-ca)") from err
    return web.Response(body=pem, content_type="application/x-pem-file")


def _limited(app: web.Application, address: str) -> bool:
    _failures = _failures_by_app.setdefault(app, {})
    now = time.monotonic()
    window = _failures.setdefault(address, deque())
    while window and window[0] < now - FAILURE_WINDOW_S:
        window.popleft()
    if not window:
        _failures.pop(address, None)
    if len(_failures) > 10_000:  # bounded under a flood of addresses: forget the oldest
        _failures.pop(next(iter(_failures)))
    return len(window) >= MAX_FAILURES


def _failed(app: web.Application, address: str) -> None:
    _failures_by_app.setdefault(app, {}).setdefault(address, deque()).append(time.monotonic())


@routes.route("POST", ENROL_PATH, perm=None, body=CodeIn, summary="Redeem an enrolment code once: the node's files")
async def redeem(request: web.Request) -> web.Response:
    address = client_ip(request)
    if _limited(request.app, address):
        raise ApiError(429, "Nhập sai mã quá nhiều lần; thử lại sau 15 phút (too many wrong codes)")
    body = await parse_body(request, CodeIn)
    try:
        secret, _pin = parse_code(body.code)
        node, payload = await asyncio.to_thread(prov.enrolments(request.app[CONFIG]).redeem, secret)
    except EnrolmentCodeError as err:
        _failed(request.app, address)
        raise ApiError(400, f"Mã không hợp lệ (malformed code): {err}", {"code": str(err)}) from err
    except EnrolmentError as err:
        _failed(request.app, address)
        status = 410 if err.reason == "expired" else 404
        raise ApiError(status, f"Mã không dùng được (code refused): {err}") from err
    request[AUDIT_DETAIL] = {"node": node}
    return json_response(payload)
