"""``hq-server check-config``: validate HQ's config before a start (install script, by hand).

Errors (exit 2): anything ``load_config`` refuses, and TLS files named in the config that do not
exist. Warnings (exit 0, or 1 with ``--strict``): settings that are fine for a demo but wrong on the
commune's machine — relative paths (they resolve under /etc once the file is installed there, where
the service may not write), an embedded broker that nodes elsewhere cannot reach.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hq_server.config import HqConfig, load_config
from loaxa_common.cli_text import _
from loaxa_common.config import ConfigError, read_yaml_mapping


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    c = sub.add_parser("check-config", help="validate an HQ config and exit (warnings for demo settings)")
    c.add_argument("--config", type=Path, required=True)
    c.add_argument("--strict", action="store_true", help="exit 1 when warnings remain")


def _tls_files(cfg: HqConfig) -> list[tuple[str, Path]]:
    files: list[tuple[str, Path]] = []
    t = cfg.embedded_broker.tls
    if cfg.broker is None and t is not None:
        files += [("embedded_broker.tls.cert", t.cert), ("embedded_broker.tls.key", t.key)]
        if t.client_ca:
            files.append(("embedded_broker.tls.client_ca", t.client_ca))
    if cfg.broker is not None and cfg.broker.tls is not None:
        files.append(("broker.tls.ca", cfg.broker.tls.ca))
    if cfg.broker is not None and cfg.broker.password_file is not None:
        files.append(("broker.password_file", cfg.broker.password_file))
    return files


def warnings(cfg: HqConfig, raw: dict[str, object]) -> list[str]:
    out = []
    for key in ("data_dir", "private_key"):
        value = raw.get(key)
        if isinstance(value, str) and not value.startswith("/"):
            out.append(_("{field}: relative path {value!r} resolves next to the config file; give an absolute "
                         "path such as /var/lib/loaxa-hq").format(field=key, value=value))
    if "data_dir" not in raw:
        out.append(_("data_dir: not set; the default 'var/hq' resolves next to the config file"))
    if cfg.broker is None and cfg.embedded_broker.tls is None:
        out.append(_("embedded_broker: no tls listener, so nodes on other machines cannot connect "
                     "(see docs/commune-broker.md)"))
    return out


def run(path: Path, strict: bool) -> int:
    cfg = load_config(path)
    for field, file in _tls_files(cfg):
        if not file.is_file():
            raise ConfigError(f"{path}: {field}: file {file} does not exist")
    found = warnings(cfg, read_yaml_mapping(path))
    print(_("{path}: OK (commune {commune}, data in {data})").format(path=path, commune=cfg.commune,
                                                                      data=cfg.data_dir))
    for w in found:
        print(_("WARNING {message}").format(message=w))
    return 1 if strict and found else 0
