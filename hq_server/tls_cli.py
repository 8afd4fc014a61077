"""``hq-server make-ca`` and ``make-server-cert``: the commune's own small certificate authority.

For a commune without a certificate from a public authority (a broker reached by a LAN address or a
4G private APN has no public name). Files go to ``data_dir/tls`` of the HQ config by default: the CA
key stays there; ``ca.crt`` is what every node trusts; ``server.crt``/``server.key`` are the broker's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hq_server.config import load_config
from loaxa_common.certs import CA_CERT, SERVER_DAYS, CertError, describe, issue_server_cert, make_ca
from loaxa_common.cli_text import _


def tls_dir(config: Path | None) -> Path:
    return load_config(config).data_dir / "tls" if config else Path("tls")


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    c = sub.add_parser("make-ca", help="create the commune CA (ca.crt for every node, ca.key kept at HQ)")
    c.add_argument("--config", type=Path, help="HQ config: commune and data_dir/tls")
    c.add_argument("--commune", help="commune id (default: from --config)")
    c.add_argument("--out", type=Path, help="directory (default: data_dir/tls of --config, else ./tls)")
    c.add_argument("--days", type=int, default=3650, help="validity in days (default 10 years)")
    s = sub.add_parser("make-server-cert", help="issue the broker's (or HQ's HTTPS) certificate from the CA")
    s.add_argument("--config", type=Path, help="HQ config (default directories: data_dir/tls)")
    s.add_argument("--ca-dir", type=Path, help="directory of ca.crt/ca.key (default: data_dir/tls)")
    s.add_argument("--out", type=Path, help="directory for server.crt/server.key (default: the CA directory)")
    s.add_argument("--name", action="append", required=True, metavar="NAME_OR_IP",
                   help="a host name or IP address nodes use to reach the server (repeatable; all that apply)")
    s.add_argument("--stem", default="server", help="file name stem (server → server.crt, server.key)")
    s.add_argument("--days", type=int, default=SERVER_DAYS, help=f"validity in days (default {SERVER_DAYS})")


def run(args: argparse.Namespace) -> int:
    try:
        if args.cmd == "make-ca":
            return _make_ca(args)
        return _make_server_cert(args)
    except CertError as err:
        print(_("error: {error}").format(error=err), file=sys.stderr)
        return 2


def _make_ca(args: argparse.Namespace) -> int:
    commune = args.commune or (load_config(args.config).commune if args.config else None)
    if not commune:
        print(_("error: give --commune or --config"), file=sys.stderr)
        return 2
    out = args.out or tls_dir(args.config)
    cert, key = make_ca(out, commune, days=args.days)
    info = describe(cert)
    print(_("Commune CA created: {cert} (copy to every node) and {key} (secret, stays at HQ)")
          .format(cert=cert, key=key))
    print(_("CA fingerprint (SHA-256): {fp}").format(fp=info.sha256))
    return 0


def _make_server_cert(args: argparse.Namespace) -> int:
    ca_dir = args.ca_dir or tls_dir(args.config)
    if not (ca_dir / CA_CERT).exists():
        print(_("error: no CA in {dir}: run hq-server make-ca first").format(dir=ca_dir), file=sys.stderr)
        return 2
    cert, key = issue_server_cert(ca_dir, args.out or ca_dir, args.name, stem=args.stem, days=args.days)
    info = describe(cert)
    names = ", ".join([*info.dns_names, *info.ip_addresses])
    print(_("Server certificate {cert} (key {key}) for: {names}; valid until {end}")
          .format(cert=cert, key=key, names=names, end=info.not_after.date().isoformat()))
    return 0
