"""Catalog upkeep: fill the English catalog from the msgids, and check catalogs for gaps.

`python -m bot.catalogs fill-source` runs after `make update`; the tests use `problems()`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from bot.i18n import DOMAIN, LOCALES_DIR

SOURCE_LOCALE = "en"
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def catalog_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(locale: str) -> Catalog:
    with catalog_path(locale).open("rb") as handle:
        return read_po(handle, locale=locale)


def fill_source(locale: str = SOURCE_LOCALE) -> int:
    """Copy each English msgid into its msgstr where empty; return how many were filled."""
    catalog = read_catalog(locale)
    filled = 0
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            if not all(message.string):
                message.string = (message.id[0], message.id[1])
                filled += 1
        elif not message.string:
            message.string = message.id
            filled += 1
        message.flags.discard("fuzzy")
    with catalog_path(locale).open("wb") as handle:
        write_po(handle, catalog)
    return filled


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def problems(locale: str) -> list[str]:
    """List every empty, fuzzy or placeholder-mismatched entry of a catalog."""
    found = []
    for message in read_catalog(locale):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if "fuzzy" in message.flags:
            found.append(f"{locale}: fuzzy: {ids[0]!r}")
        if not all(strings):
            found.append(f"{locale}: empty: {ids[0]!r}")
            continue
        wanted = set().union(*(placeholders(i) for i in ids))
        for string in strings:
            if placeholders(string) != wanted:
                found.append(
                    f"{locale}: placeholders {sorted(placeholders(string))} "
                    f"instead of {sorted(wanted)} in {string!r}"
                )
    return found


if __name__ == "__main__":
    if sys.argv[1:] == ["fill-source"]:
        print(f"filled {fill_source()} English entries")
    else:
        print("usage: python -m bot.catalogs fill-source", file=sys.stderr)
        raise SystemExit(2)
