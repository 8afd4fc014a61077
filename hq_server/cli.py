"""``hq-server``: keygen, send, run, create-user, node-credential, provisioning, certificates, broker config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import uuid
from pathlib import Path

from hq_server import broker_config_cli, check_cli, credential_cli, provision_cli, tls_cli
from hq_server.broker import hq_login
from hq_server.config import HqConfig, broker_tls_files, load_config
from hq_server.send import AckCollector, format_ack, outcome_code, publish_command
from hq_server.send_api import (
    TOKEN_ENV,
    SendError,
    api_body,
    client_ssl,
    default_url,
    read_token,
    send_via_api,
    targets_from,
)
from hq_server.signer import CommandSigner
from loaxa_common.cli_text import _
from loaxa_common.config import ConfigError
from loaxa_common.process import setup_logging
from loaxa_contract import signing, topics
from loaxa_contract.limits import MAX_TEXT_CHARS
from loaxa_link.mqtt import LinkConfig, MqttLink


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hq-server", description="LoaXa HQ server (commune People's Committee)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="cmd", required=True)

    k = sub.add_parser("keygen", help="write the HQ Ed25519 key pair (nodes get the .pub)")
    k.add_argument("--out", type=Path, help="directory (default: data_dir/keys of --config, else ./keys)")
    k.add_argument("--config", type=Path)

    s = sub.add_parser("send", help="send a bulletin through HQ (recorded, audited, reported) and follow it")
    s.add_argument("--config", type=Path, required=True)
    s.add_argument("--text", required=True, help=f"bulletin text (≤ {MAX_TEXT_CHARS} characters)")
    s.add_argument("--target", action="append", default=None,
                   help="all | zone:NAME (slug or name, e.g. 'zone:Thôn 1') | node:ID; repeatable (default all)")
    s.add_argument("--title", default="")
    s.add_argument("--priority", default="normal", choices=["normal", "priority", "emergency"])
    s.add_argument("--voice", default=None)
    s.add_argument("--timeout", type=float, default=60.0, help="seconds to follow the deliveries")
    s.add_argument("--expect", type=int, default=None, help="stop once this many nodes have finished")
    s.add_argument("--ttl", type=float, default=None, help="seconds until the bulletin expires")
    s.add_argument("--url", default=None, help="HQ's URL (default: http.public_url, else its listen address)")
    s.add_argument("--token-file", type=Path, default=None,
                   help=f"file holding an API token of a broadcaster or admin (default: ${TOKEN_ENV})")
    s.add_argument("--direct", action="store_true",
                   help="UNRECORDED: sign and publish straight to the broker, bypassing HQ (no bulletin, audit "
                        "or report entry); only when HQ itself is down")

    r = sub.add_parser("run", help="run the HQ server")
    r.add_argument("--config", type=Path, required=True)

    u = sub.add_parser("create-user", help="create an account (e.g. the first admin); migrates the database")
    u.add_argument("--config", type=Path, required=True)
    u.add_argument("--username", required=True)
    u.add_argument("--role", required=True, choices=["admin", "broadcaster", "technician", "police"])
    u.add_argument("--full-name", default="")
    u.add_argument("--password-env", metavar="VAR", help="read the password from this environment variable")
    u.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    u.add_argument("--generate", action="store_true",
                   help="generate a password and print it on stdout (first line; the token follows with --token)")
    u.add_argument("--token", action="store_true", help="also create and print an API token (shown once)")

    tls_cli.add_parsers(sub)
    check_cli.add_parser(sub)
    credential_cli.add_parser(sub)
    provision_cli.add_parsers(sub)
    broker_config_cli.add_parser(sub)
    return p


def link_config_for(cfg: HqConfig, client_id: str, subscriptions: list[str]) -> LinkConfig:
    username, password = hq_login(cfg)
    if cfg.broker:
        return LinkConfig(host=cfg.broker.host, port=cfg.broker.port, client_id=client_id, username=username,
                          password=password, subscriptions=subscriptions, **broker_tls_files(cfg))
    return LinkConfig(host="127.0.0.1", port=cfg.embedded_broker.port, client_id=client_id,
                      username=username, password=password, subscriptions=subscriptions)


async def _send(args: argparse.Namespace, cfg: HqConfig) -> int:
    if len(args.text) > MAX_TEXT_CHARS:
        print(f"error: --text is {len(args.text)} characters; the limit is {MAX_TEXT_CHARS}", file=sys.stderr)
        return 2
    if args.direct:
        return await _send_direct(args, cfg)
    try:
        token = read_token(args.token_file)
        url = (args.url or default_url(cfg)).rstrip("/")
        body = api_body(args.text, args.title, args.priority, args.voice, targets_from(args.target or ["all"]),
                        args.ttl)
        return await send_via_api(url, token, body, timeout=args.timeout, expect=args.expect,
                                  ssl_context=client_ssl(cfg, url))
    except SendError as err:
        print(f"lỗi (error): {err}", file=sys.stderr)
        return 2


async def _send_direct(args: argparse.Namespace, cfg: HqConfig) -> int:
    """The bypass: HQ never hears of this bulletin. Said loudly, on stderr, before anything is sent."""
    print("CẢNH BÁO: --direct gửi thẳng lên broker; bản tin KHÔNG được HQ ghi lại (không có trong danh sách bản "
          "tin, nhật ký, báo cáo) (WARNING: --direct publishes straight to the broker, UNRECORDED: not in HQ's "
          "bulletins, audit log or reports)", file=sys.stderr, flush=True)
    targets = args.target or ["all"]
    if len(targets) != 1:
        print("lỗi (error): --direct gửi tới đúng một --target (one --target with --direct)", file=sys.stderr)
        return 2
    args.target = targets[0]
    signer = CommandSigner(cfg.key_path, cfg.data_dir / "seq")

    bulletin_id = uuid.uuid4().hex[:12]
    wire = signer.build("bulletin", target=args.target, ttl_s=args.ttl or cfg.command_ttl_s,
                        bulletin_id=bulletin_id, title=args.title, text=args.text, priority=args.priority,
                        voice=args.voice)
    collector = AckCollector(wire["id"], on_ack=lambda a: print(format_ack(a), flush=True))
    link = MqttLink(
        link_config_for(cfg, f"loaxa-hq-cli-{wire['id']}", [topics.filter_for(topics.TopicKind.NODE_ACK, cfg.commune)]),
        on_message=collector.feed,
    )
    link.config.session_expiry_s = 0
    await link.start()
    try:
        await link.wait_ready(10)
        topic = await publish_command(link, cfg.commune, wire)
        print(f"sent UNRECORDED bulletin {bulletin_id} (command {wire['id']}) to {topic}", flush=True)
        await collector.wait(args.expect, args.timeout)
    except TimeoutError:
        print("error: could not connect to the broker within 10 s", file=sys.stderr)
        return 2
    finally:
        await link.stop()
    finals = collector.terminal_nodes()
    print(f"{len(finals)} node(s) finished: " + ", ".join(f"{n}={a.stage.value}" for n, a in sorted(finals.items())))
    return outcome_code(collector)


NO_TERMINAL = ("không có terminal để gõ mật khẩu: dùng --password-stdin, --password-env BIẾN hoặc --generate "
               "(no terminal to type the password on: use --password-stdin, --password-env VAR or --generate)")


def _read_password(args: argparse.Namespace) -> str:
    """From --generate, --password-env, --password-stdin, else typed twice on a terminal (never an EOFError)."""
    import getpass
    import os
    import secrets

    if args.generate:
        return secrets.token_urlsafe(12)
    if args.password_env:
        if args.password_env not in os.environ:
            raise ValueError(f"biến môi trường {args.password_env} chưa được đặt ({args.password_env} is not set)")
        return os.environ[args.password_env]
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise ValueError("stdin trống: không có mật khẩu (stdin is empty: no password)")
        return line.rstrip("\n")
    if not sys.stdin.isatty():
        raise ValueError(NO_TERMINAL)
    try:
        first = getpass.getpass("mật khẩu (password): ")
        again = getpass.getpass("nhập lại (again): ")
    except EOFError as err:
        raise ValueError(NO_TERMINAL) from err
    if first != again:
        raise ValueError("hai lần nhập mật khẩu không khớp (passwords do not match)")
    return first


async def _create_user(args: argparse.Namespace, cfg: HqConfig) -> int:
    from hq_server.services.users import create_user
    from hq_server.storage.db import Database

    password = _read_password(args)
    db = await Database(cfg.database_url).open()
    try:
        async with db.sessions() as session:
            token = await create_user(session, args.username, password, args.role, full_name=args.full_name,
                                      with_token=args.token)
    finally:
        await db.close()
    print(f"created {args.role} {args.username!r}", file=sys.stderr)
    if args.generate:
        print(password)
    if token:
        print(token)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(args.verbose)
    if not args.verbose:  # alembic logs each plugin it loads at import: noise before any real message
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        if args.cmd == "keygen":
            out = args.out or (load_config(args.config).key_path.parent if args.config else Path("keys"))
            priv, pub = signing.generate_keypair(out)
            print(f"wrote {priv} (keep secret, HQ only) and {pub} (copy to every node)")
            print(_("HQ key fingerprint: {fp}").format(fp=signing.fingerprint(signing.load_public_key(pub))))
            return 0
        if args.cmd in ("make-ca", "make-server-cert"):
            return tls_cli.run(args)
        if args.cmd == "check-config":
            return check_cli.run(args.config, args.strict)
        cfg = load_config(args.config)
        if args.cmd == "send":
            return asyncio.run(_send(args, cfg))
        if args.cmd == "create-user":
            return asyncio.run(_create_user(args, cfg))
        if args.cmd == "node-credential":
            return credential_cli.run(args, cfg)
        if args.cmd in ("provision-node", "revoke-node"):
            return provision_cli.run(args, cfg)
        if args.cmd == "broker-config":
            return broker_config_cli.run(args, cfg)
        if args.cmd == "run":
            from hq_server.app import run_server  # the full server (aiohttp) lives there

            return run_server(cfg)
    except (ConfigError, FileExistsError, FileNotFoundError, ValueError) as err:
        print(_("error: {error}").format(error=err), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
