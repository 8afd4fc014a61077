"""Language of the command-line tools a technician reads: Vietnamese unless the environment asks for English.

The choice follows gettext's own order of environment variables (``LANGUAGE``, ``LC_ALL``,
``LC_MESSAGES``, ``LANG``), so ``LANG=en_US.UTF-8 edge-agent doctor …`` prints English and a Pi with
no locale set (the usual case, ``LANG=C.UTF-8``) prints Vietnamese; ``C``/``POSIX`` do not count as a
choice. The catalogs are the web UI's (:mod:`loaxa_common.i18n`: one domain for the project, English
message ids, ``scripts/i18n.py`` keeps them in step with the code).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from loaxa_common.i18n import DEFAULT_LANGUAGE, normalise_language, translations

_ENV_ORDER = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def cli_language(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    for var in _ENV_ORDER:
        for value in env.get(var, "").split(":"):
            value = value.strip()
            if value and value.split(".")[0].upper() not in ("C", "POSIX"):
                return normalise_language(value)
    return DEFAULT_LANGUAGE


def _(message: str) -> str:
    """Translate ``message`` (an English msgid) into the technician's language, read at each call."""
    return translations(cli_language()).gettext(message)
