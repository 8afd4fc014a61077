"""Doctor checks of the node's TLS files: is the CA readable and a CA, is the client certificate in date.

They run before the broker check so that a technician sees "your CA file is expired" next to the
broker's refusal rather than having to guess.
"""

from __future__ import annotations

from edge_agent.config import NodeConfig
from loaxa_common.certs import CertError, CertInfo, describe
from loaxa_common.cli_text import _

CheckTuple = tuple[str, bool, str, bool]
"""(name, ok, detail, warn_only), turned into ``doctor.Check`` by the caller."""

RENEW_WARN_DAYS = 30


def _dates(info: CertInfo) -> str:
    return _("valid {start} to {end}").format(start=info.not_before.date().isoformat(),
                                              end=info.not_after.date().isoformat())


def _cert_check(name: str, path: object, *, want_ca: bool) -> CheckTuple:
    try:
        info = describe(path)  # type: ignore[arg-type]
    except CertError as err:
        return name, False, str(err), False
    if want_ca and not info.is_ca:
        return name, False, _("{path} is not a CA certificate (it is {subject}); broker.tls.ca needs the "
                              "commune CA, ca.crt from HQ").format(path=path, subject=info.subject), False
    if info.expired():
        return name, False, _("{path} has EXPIRED ({dates})").format(path=path, dates=_dates(info)), False
    if info.not_yet_valid():
        return name, False, _("{path} is not valid yet ({dates}): check this node's clock").format(
            path=path, dates=_dates(info)), False
    days = info.days_left()
    detail = _("{subject}, {dates}, SHA-256 {fp}").format(subject=info.subject, dates=_dates(info),
                                                           fp=info.sha256[:16])
    if days < RENEW_WARN_DAYS:
        return name, False, _("{detail}: expires in {days} days, renew it").format(detail=detail,
                                                                                  days=int(days)), True
    return name, True, detail, False


def check_tls_files(config: NodeConfig) -> list[CheckTuple]:
    tls = config.broker.tls
    if tls is None:  # plain MQTT to a remote broker is a config warning (config_lint), not a file problem
        return []
    checks = [_cert_check("tls ca", tls.ca, want_ca=True)]
    if tls.cert is not None:
        checks.append(_cert_check("tls client cert", tls.cert, want_ca=False))
    return checks
