#!/usr/bin/env python3
"""Keep the gettext catalogs in step with the code: extract messages, update every language's .po.

    .venv/bin/python scripts/i18n.py           # extract + update loaxa_common/locale/*/LC_MESSAGES/loaxa.po
    .venv/bin/python scripts/i18n.py --check   # fail if a message is missing or a Vietnamese one untranslated

Then translate the new ``msgstr ""`` entries of vi (English ids need no English translation). Nothing
is compiled here: loaxa_common.i18n compiles the .po in memory when it first loads a catalog.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "loaxa_common" / "locale"
CFG = LOCALE / "babel.cfg"
LANGS = ("vi", "en")


def extract(pot: Path) -> None:
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(CFG), "-k", "_",
                    "--no-location", "--sort-output", "--omit-header", "--project", "LoaXa",
                    "-o", str(pot), "."], cwd=ROOT, check=True,
                   capture_output=True)


def problems(pot: Path) -> list[str]:
    with pot.open("rb") as fh:
        wanted = {m.id for m in read_po(fh) if m.id}
    out = []
    for lang in LANGS:
        with (LOCALE / lang / "LC_MESSAGES" / "loaxa.po").open("rb") as fh:
            cat = read_po(fh, locale=lang)
        have = {m.id: m for m in cat if m.id}
        out += [f"{lang}: missing {m!r}" for m in sorted(wanted - set(have), key=str)]
        if lang == "vi":
            out += [f"vi: untranslated {m!r}" for m in sorted(wanted, key=str) if m in have and not have[m].string]
            out += [f"vi: fuzzy {m!r}" for m in sorted(wanted, key=str) if m in have and have[m].fuzzy]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / "loaxa.pot"
        extract(pot)
        if args.check:
            found = problems(pot)
            print("\n".join(found) or "catalogs complete")
            return 1 if found else 0
        for lang in LANGS:
            po = LOCALE / lang / "LC_MESSAGES" / "loaxa.po"
            cmd = "update" if po.exists() else "init"
            extra = ["--no-fuzzy-matching", "--ignore-obsolete"] if cmd == "update" else []
            subprocess.run([sys.executable, "-m", "babel.messages.frontend", cmd, "-i", str(pot), "-d", str(LOCALE),
                            "-l", lang, "-D", "loaxa", *extra], cwd=ROOT, check=True, capture_output=True)
            print(f"{cmd}d {po.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
