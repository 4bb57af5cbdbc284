"""Fill translations after `make messages`: nb from a JSON file {msgid: msgstr} (a list of
strings for plural entries), en with the msgid itself. Prints what is still untranslated.

    .venv/bin/python tools/fill_catalogues.py new_strings.nb.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1] / "homefollow" / "translations"


def _translated(message) -> bool:
    return all(message.string) if isinstance(message.string, (list, tuple)) else bool(message.string)


def fill(locale: str, table: dict | None) -> list[str | tuple[str, ...] | list[str]]:
    path = ROOT / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalogue = read_po(f, locale=locale)
    for message in catalogue:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        if table is None:
            if not _translated(message):
                message.string = message.id
        elif key in table:
            value = table[key]
            message.string = value if isinstance(message.id, str) else tuple(value)
    with path.open("wb") as f:
        write_po(f, catalogue, width=76)
    return [m.id for m in catalogue if m.id and not _translated(m)]


def main(argv: list[str]) -> int:
    table = json.loads(Path(argv[1]).read_text(encoding="utf-8")) if len(argv) > 1 else {}
    fill("en", None)
    missing = fill("nb", table)
    for msgid in missing:
        print(f"untranslated (nb): {msgid!r}")
    print(f"Filled the catalogues; {len(missing)} nb string(s) still untranslated.")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
