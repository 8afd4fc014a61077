"""``hq-server broker-config``: the configuration of a Mosquitto HQ does not start (Debian's system broker).

Writes, for the broker named in ``broker:`` with a ``managed:`` section:

* into ``broker.managed.dir``: ``passwd`` and ``acl`` rendered from HQ's credential store, and copies of
  the server certificate and key (0640; group ``mosquitto`` and setgid when run as root, so the broker
  reads what HQ's user later rewrites);
* the Mosquitto configuration (:func:`loaxa_link.broker_conf.system_broker_conf`): a drop-in for
  ``/etc/mosquitto/conf.d/`` by default, or with ``--standalone DIR`` a complete file
  ``DIR/mosquitto.conf`` with persistence, log and pid file under ``DIR`` (for ``mosquitto -c``).
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import os
import pwd
import sys
from pathlib import Path

from hq_server.broker import credential_store
from hq_server.config import HqConfig
from loaxa_common.cli_text import _
from loaxa_link.broker_conf import TlsListener, system_broker_conf
from loaxa_link.system_broker import render_shared, write_shared

DROP_IN = Path("/etc/mosquitto/conf.d/loaxa.conf")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    b = sub.add_parser("broker-config", help="write the configuration of Debian's Mosquitto for this commune")
    b.add_argument("--config", type=Path, required=True)
    b.add_argument("--out", type=Path, help=f"drop-in file (default {DROP_IN})")
    b.add_argument("--standalone", type=Path, metavar="DIR",
                   help="write a complete DIR/mosquitto.conf with its data, log and pid file in DIR instead")
    b.add_argument("--tls-port", type=int, default=8883, help="TLS port for the nodes (default 8883; 0: no TLS)")
    b.add_argument("--bind", help="address of the TLS listener (default: every interface)")
    b.add_argument("--cert", type=Path, help="server certificate (default data_dir/tls/server.crt)")
    b.add_argument("--key", type=Path, help="its private key (default data_dir/tls/server.key)")
    b.add_argument("--hq-user", default="loaxa-hq", help="HQ's service user, owner of the managed directory")
    b.add_argument("--user", help="with --standalone: the user Mosquitto runs as when started by root")


def _share_with_broker(directory: Path, hq_user: str) -> None:
    """As root: the directory belongs to HQ's user and the ``mosquitto`` group, setgid (files keep the group)."""
    if os.geteuid() != 0:
        return
    try:
        gid = grp.getgrnam("mosquitto").gr_gid
    except KeyError:
        return
    uid = -1
    with contextlib.suppress(KeyError):
        uid = pwd.getpwnam(hq_user).pw_uid
    os.chown(directory, uid, gid)
    directory.chmod(0o2750)
    for path in directory.iterdir():
        os.chown(path, uid, gid)


def run(args: argparse.Namespace, cfg: HqConfig) -> int:
    if cfg.broker is None or cfg.broker.managed is None:
        print(_("error: broker-config is for a broker HQ manages: add broker: with a managed: section to {path} "
                "(see docs/commune-broker.md)").format(path=args.config), file=sys.stderr)
        return 2
    managed = cfg.broker.managed.dir
    managed.mkdir(parents=True, exist_ok=True)
    tls = None
    if args.tls_port:
        cert = args.cert or cfg.data_dir / "tls" / "server.crt"
        key = args.key or cfg.data_dir / "tls" / "server.key"
        for path in (cert, key):
            if not path.is_file():
                print(_("error: {path} does not exist: run hq-server make-server-cert first").format(path=path),
                      file=sys.stderr)
                return 2
        write_shared(managed / "server.crt", cert.read_bytes())
        write_shared(managed / "server.key", key.read_bytes())
        tls = TlsListener(port=args.tls_port, cert=managed / "server.crt", key=managed / "server.key", host=args.bind)
    passwd, acl = render_shared(managed, credential_store(cfg))
    standalone = args.standalone.resolve() if args.standalone else None
    text = system_broker_conf(loopback_port=cfg.broker.port, tls=tls, passwd=passwd, acl=acl, data_dir=standalone,
                              run_as=args.user if standalone else None)
    out = (standalone / "mosquitto.conf") if standalone else (args.out or DROP_IN)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    _share_with_broker(managed, args.hq_user)
    print(_("Mosquitto configuration written to {path}; users and ACL in {dir}").format(path=out, dir=managed))
    if standalone:
        print(_("Start it with: mosquitto -c {path}").format(path=out))
    else:
        print(_("Apply it: systemctl restart mosquitto; and let node changes reload it: systemctl enable --now "
                "loaxa-broker-reload.path"))
    return 0
