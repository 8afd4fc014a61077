"""``hq-server node-credential add|revoke|list|zones``: broker logins of nodes, applied without a restart.

A node's MQTT user name is its node id; its password is issued here and shown once (or written to a
0600 file to copy onto the node as ``broker.password_file``). Every change is applied to the running
embedded broker at once (:func:`hq_server.broker.sync_broker`): a revoked node is disconnected and
refused from then on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hq_server.broker import credential_store, sync_broker
from hq_server.config import HqConfig
from loaxa_link.credentials import CredentialError, write_private
from loaxa_link.mosquitto import BrokerError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("node-credential", help="add, revoke or list the broker logins of nodes")
    cmds = p.add_subparsers(dest="action", required=True)
    a = cmds.add_parser("add", help="issue a login for a node (password shown once)")
    a.add_argument("--config", type=Path, required=True)
    a.add_argument("node", help="node id (its MQTT user name)")
    a.add_argument("--zone", action="append", default=[], help="a zone the node serves (repeatable)")
    a.add_argument("--password-file", type=Path, help="write the password to this file (0600) instead of printing")
    a.add_argument("--replace", action="store_true", help="issue a new password for a node that has one")
    r = cmds.add_parser("revoke", help="remove a node's login; the broker disconnects and refuses it")
    r.add_argument("--config", type=Path, required=True)
    r.add_argument("node")
    z = cmds.add_parser("zones", help="set the zones whose commands a node may read")
    z.add_argument("--config", type=Path, required=True)
    z.add_argument("node")
    z.add_argument("zones", nargs="*")
    ls = cmds.add_parser("list", help="list node logins")
    ls.add_argument("--config", type=Path, required=True)
    ls.add_argument("--all", action="store_true", help="include revoked logins")


def _applied(cfg: HqConfig) -> str:
    try:
        reloaded = sync_broker(cfg)
    except BrokerError as err:
        return f"CẢNH BÁO: broker chưa xác nhận nạp lại (broker did not confirm the reload): {err}"
    if reloaded:
        return "Broker đang chạy đã áp dụng ngay, không cần khởi động lại (applied to the running broker)."
    return "Broker chưa chạy; sẽ áp dụng khi HQ khởi động (the broker is not running; applied at start)."


def run(args: argparse.Namespace, cfg: HqConfig) -> int:
    if cfg.broker is not None:
        print("lỗi: HQ dùng broker ngoài (mục broker: trong cấu hình); hãy quản lý tài khoản MQTT trên broker đó "
              "(error: HQ uses an external broker; manage its MQTT users there)", file=sys.stderr)
        return 2
    store = credential_store(cfg)
    try:
        if args.action == "add":
            password = store.add_node(args.node, args.zone, replace_existing=args.replace)
            if args.password_file:
                write_private(args.password_file, password + "\n")
                print(f"Đã cấp tài khoản MQTT cho nút {args.node}; mật khẩu ghi vào {args.password_file} "
                      f"(login issued; password written to the file)", file=sys.stderr)
            else:
                print(f"Đã cấp tài khoản MQTT cho nút {args.node} (login issued). Mật khẩu chỉ hiện một lần "
                      "(shown once) — ghi vào broker.password_file của nút:", file=sys.stderr)
                print(password, flush=True)
        elif args.action == "revoke":
            if not store.revoke_node(args.node):
                print(f"lỗi: nút {args.node} không có tài khoản đang hoạt động (no active login)", file=sys.stderr)
                return 1
            print(f"Đã thu hồi tài khoản của nút {args.node} (login revoked)", file=sys.stderr)
        elif args.action == "zones":
            store.set_zones(args.node, args.zones)
            print(f"Nút {args.node} được nghe các vùng: {', '.join(args.zones) or '(không có)'} (zones set)",
                  file=sys.stderr)
        else:
            for cred in store.nodes(include_revoked=args.all):
                state = f"thu hồi {cred.revoked_at} (revoked)" if cred.revoked_at else "hoạt động (active)"
                print(f"{cred.node:<24} {','.join(cred.zones) or '-':<24} cấp {cred.issued_at}  {state}")
            return 0
    except CredentialError as err:
        print(f"lỗi: {err}", file=sys.stderr)
        return 1
    print(_applied(cfg), file=sys.stderr)
    return 0
