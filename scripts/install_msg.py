#!/usr/bin/env python3
"""Print one installer message in the technician's language, from the project's gettext catalog.

The install scripts run before the LoaXa venv exists, so this reads the ``.po`` catalog with the
standard library only (msgid/msgstr pairs, no plurals: installer messages have none). The language
follows the same rule as the Python tools: ``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``;
``C``/``POSIX``/unset mean Vietnamese.

    python3 scripts/install_msg.py "Creating the service user {user}" user=loaxa
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

CATALOG = Path(__file__).resolve().parent.parent / "loaxa_common" / "locale" / "{lang}" / "LC_MESSAGES" / "loaxa.po"
LANGUAGES = ("vi", "en")


def language(env: dict[str, str]) -> str:
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for value in env.get(var, "").split(":"):
            value = value.strip()
            if value and value.split(".")[0].upper() not in ("C", "POSIX"):
                code = value.lower().replace("_", "-").split("-")[0]
                return code if code in LANGUAGES else "vi"
    return "vi"


def read_po(path: Path) -> dict[str, str]:
    """msgid → msgstr of a PO file (continuation lines joined, fuzzy and empty entries skipped)."""
    entries: dict[str, str] = {}
    msgid: list[str] | None = None
    msgstr: list[str] | None = None
    fuzzy = False
    current: list[str] | None = None

    def flush() -> None:
        if msgid is not None and msgstr is not None and not fuzzy and "".join(msgid) and "".join(msgstr):
            entries["".join(msgid)] = "".join(msgstr)

    for line in path.read_text("utf-8").splitlines():
        line = line.strip()
        if line.startswith("#,") and "fuzzy" in line:
            flush()
            msgid = msgstr = None
            fuzzy = True
        elif line.startswith("msgid "):
            if msgstr is not None:
                flush()
                fuzzy = False
            msgid, msgstr = [ast.literal_eval(line[6:])], None
            current = msgid
        elif line.startswith("msgstr "):
            msgstr = [ast.literal_eval(line[7:])]
            current = msgstr
        elif line.startswith('"') and current is not None:
            current.append(ast.literal_eval(line))
    flush()
    return entries


def translate(message: str, env: dict[str, str]) -> str:
    path = Path(str(CATALOG).format(lang=language(env)))
    try:
        return read_po(path).get(message, message)
    except (OSError, ValueError, SyntaxError):
        return message


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: install_msg.py MESSAGE [name=value ...]", file=sys.stderr)
        return 2
    values = dict(arg.split("=", 1) for arg in argv[1:] if "=" in arg)
    text = translate(argv[0], dict(os.environ))
    try:
        print(text.format(**values))
    except (KeyError, IndexError, ValueError):
        print(argv[0].format(**values))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
