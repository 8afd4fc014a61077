"""Translations shared by every user-facing surface (HQ web UI now, the CLIs later): one gettext domain.

Catalogs are Babel ``.po`` files under ``loaxa_common/locale/<lang>/LC_MESSAGES/loaxa.po`` — the only
form committed. They are compiled in memory when first used (a few milliseconds), so a fresh clone,
CI and a wheel need no compile step and can never serve a stale ``.mo``.

Message ids are English; Vietnamese is the default language and its catalog must translate every
message (``tests/ui/test_i18n.py`` checks it). English falls back to the ids.

    from loaxa_common.i18n import translations
    _ = translations("vi").gettext
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "loaxa"
LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def normalise_language(value: str | None) -> str:
    """A supported language code for ``value`` (``"en-US"`` → ``"en"``), else the default (Vietnamese)."""
    code = (value or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of ``lang`` (cached for the process); unknown languages get the default."""
    lang = normalise_language(lang)
    path = po_path(lang)
    if not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)
