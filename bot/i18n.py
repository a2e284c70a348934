"""Translators: one per locale, handed to each reply; never a process-wide `_`.

Messages are whole sentences with named placeholders. A translation whose placeholders do not
fit its msgid falls back to the English sentence and is logged, so a broken catalog entry never
breaks a reply. In right-to-left locales every inserted value is wrapped in Unicode isolates, so
times, addresses and German names keep their own direction inside an Arabic or Farsi sentence.
"""

from __future__ import annotations

import gettext
import io
import logging
import re
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError, dates, lists, numbers

from bot.config import PROJECT_ROOT, RTL_LOCALES, SUPPORTED_LOCALES

log = logging.getLogger(__name__)

LOCALES_DIR = PROJECT_ROOT / "locales"
DOMAIN = "messages"

FSI, PDI = "\u2068", "\u2069"  # first-strong isolate, pop directional isolate
RLM = "\u200f"  # right-to-left mark
_LOCALE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


def N_(message: str) -> str:
    """Mark a constant for extraction; it is translated later with the recipient's translator."""
    return message


def negotiate_locale(*candidates: str | None, default: str) -> str:
    """Return the first candidate that names a supported language, else `default`."""
    for candidate in candidates:
        if not candidate or not _LOCALE_TAG.match(candidate.strip()):
            continue
        primary = re.split(r"[-_]", candidate.strip())[0].lower()
        if primary in SUPPORTED_LOCALES:
            return primary
    return default


# Each supported language's name in itself, as CLDR spells it (tests/test_i18n.py checks them
# against Babel). Memory: the language picker names all seven for every newcomer, and asking
# Babel would load every language's whole CLDR data (about 10 MiB) into a process whose city
# may only ever speak two of them.
NATIVE_NAMES = {
    "de": "Deutsch",
    "en": "English",
    "uk": "Українська",
    "ru": "Русский",
    "ar": "العربية",
    "fa": "فارسی",
    "tr": "Türkçe",
}


def language_name(code: str) -> str:
    """Return a language's name in its own language and script, as CLDR spells it."""
    if code in NATIVE_NAMES:
        return NATIVE_NAMES[code]
    try:
        name = Locale.parse(code).get_display_name(code) or code
    except (UnknownLocaleError, ValueError):
        return code
    return name[:1].upper() + name[1:]


def _load_catalog(locale: str) -> gettext.NullTranslations:
    folder = LOCALES_DIR / locale / "LC_MESSAGES"
    po_path, mo_path = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo_path.exists() and (
        not po_path.exists() or mo_path.stat().st_mtime >= po_path.stat().st_mtime
    ):
        with mo_path.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    if po_path.exists():
        # No compiled catalog (or an old one): compile in memory rather than show English.
        return _compile_in_memory(po_path)
    return gettext.NullTranslations()


def _compile_in_memory(po_path: Path) -> gettext.NullTranslations:
    # Imported here: only a checkout without compiled catalogs needs Babel's catalog tools.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po_path.open("rb") as handle:
        catalog = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class Translator:
    """Translates and formats for one locale."""

    def __init__(self, locale: str, catalog: gettext.NullTranslations, tz: tzinfo) -> None:
        self.locale = locale
        self.rtl = locale in RTL_LOCALES
        self.tz = tz
        self._catalog = catalog
        self._missing: set[str] = set()
        # Babel reads a locale's CLDR data (about 1.5 MiB each) on first use: a translator
        # that only translates, as for the command menu in every language, never loads it.
        self._babel = Locale.parse(locale)

    @cached_property
    def _day_pattern(self) -> str:
        # CLDR has a pattern for "weekday, day month" with a short weekday; widen the weekday,
        # as ICU does when it adapts a skeleton.
        skeletons = self._babel.datetime_skeletons
        day = str(skeletons.get("MMMMEd") or skeletons.get("MMMEd") or "EEEE, d MMMM")
        day = re.sub(r"(?<![EC])(E{1,3}|c{1,3})(?![Ec])", "EEEE", day)
        return re.sub(r"(?<![ML])(M{3}|L{3})(?![ML])", lambda m: m.group(1) + m.group(1)[0], day)

    # -- sentences ---------------------------------------------------------------------------

    def _(self, message: str, /, **params: Any) -> str:
        """Translate a whole sentence and fill its named placeholders."""
        return self._fill(self._found(self._catalog.gettext(message), message), message, params)

    def ngettext(self, singular: str, plural: str, count: int, /, **params: Any) -> str:
        """Translate a sentence about `count` things in the plural form the language needs."""
        params.setdefault("count", self.number(count))
        translated = self._catalog.ngettext(singular, plural, count)
        self._found(translated, singular if count == 1 else plural)
        return self._fill(translated, singular if count == 1 else plural, params)

    def pgettext(self, context: str, message: str, /, **params: Any) -> str:
        """Translate a short label whose meaning depends on `context`."""
        translated = self._found(self._catalog.pgettext(context, message), message)
        return self._fill(translated, message, params)

    def _found(self, translated: str, message: str) -> str:
        """Log, once per sentence, a sentence the catalog lacks (the English one is shown)."""
        if (
            translated is message
            and message not in self._missing
            and isinstance(self._catalog, gettext.GNUTranslations)
        ):
            self._missing.add(message)
            log.warning("no %s translation of %r; showing it in English", self.locale, message)
        return translated

    def _fill(self, translated: str, original: str, params: dict[str, Any]) -> str:
        if not params:
            return translated
        values = {key: self.isolate(value) for key, value in params.items()}
        try:
            return translated % values
        except (KeyError, ValueError, TypeError):
            if translated is not original:
                log.warning(
                    "broken %s translation of %r; using the English sentence", self.locale, original
                )
                try:
                    return original % values
                except (KeyError, ValueError, TypeError):
                    pass
            log.error("placeholders do not fit message %r", original)
            return original

    # -- direction ----------------------------------------------------------------------------

    def isolate(self, value: Any) -> str:
        """Wrap an inserted value so it keeps its own direction inside a right-to-left line."""
        text = str(value)
        if self.rtl and text:
            return f"{FSI}{text}{PDI}"
        return text

    def directed(self, text: str) -> str:
        """Start every line with a right-to-left mark in right-to-left locales."""
        if not self.rtl:
            return text
        return "\n".join(
            RLM + line if line and not line.startswith(RLM) else line for line in text.split("\n")
        )

    # -- numbers, dates and times --------------------------------------------------------------

    def join(self, items: Sequence[str], style: str = "standard") -> str:
        """Join items as the language lists them, such as "1 Tag und 2 Stunden"."""
        return lists.format_list(list(items), style=style, locale=self._babel)

    def number(self, value: float) -> str:
        return numbers.format_decimal(value, locale=self._babel)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    def date(self, moment: datetime) -> str:
        """Format a day with weekday, such as "Donnerstag, 4. Dezember"."""
        return dates.format_datetime(self.local(moment), self._day_pattern, locale=self._babel)

    def time(self, moment: datetime) -> str:
        return dates.format_time(self.local(moment), format="short", locale=self._babel)

    def datetime(self, moment: datetime, *, all_day: bool = False) -> str:
        """Format a day and time, such as "Thursday, December 4 at 6:00 PM"; only the day for
        an event that lasts all day."""
        if all_day:
            return self.date(moment)
        pattern = str(self._babel.datetime_formats["long"])
        return _glue(pattern, self.time(moment), self.date(moment))

    def short_datetime(self, moment: datetime, *, all_day: bool = False) -> str:
        """Format a day and time briefly for a button, such as "Do., 4. Dez., 18:00"; only the
        day for an event that lasts all day."""
        day = dates.format_skeleton("MMMEd", self.local(moment), fuzzy=True, locale=self._babel)
        if all_day:
            return day
        return _glue(str(self._babel.datetime_formats["short"]), self.time(moment), day)

    def until(self, starts_at: datetime, ends_at: datetime) -> str:
        """Say when something ends: the time alone on its start day, else the day and time."""
        # An end on another day needs its date, or "until 02:00" reads as before the start.
        if self.local(ends_at).date() != self.local(starts_at).date():
            return self._("Until: %(when)s", when=self.datetime(ends_at))
        return self._("Until: %(time)s", time=self.time(ends_at))

    def relative(self, moment: datetime, now: datetime) -> str:
        """Say how far `moment` is from `now`, such as "in 3 days"."""
        return dates.format_timedelta(
            moment - now, add_direction=True, threshold=1.0, locale=self._babel
        )

    def duration(self, delta: timedelta) -> str:
        return dates.format_timedelta(delta, locale=self._babel)


def _glue(pattern: str, time_text: str, date_text: str) -> str:
    """Fill a CLDR date-time glue pattern such as "{1} 'at' {0}" (quoted text is literal)."""
    parts = re.split(r"('[^']*')", pattern)
    out = []
    for part in parts:
        if part.startswith("'") and part.endswith("'") and len(part) >= 2:
            out.append(part[1:-1])
        else:
            out.append(part.replace("{0}", time_text).replace("{1}", date_text))
    return "".join(out)


class Translations:
    """The translators of every supported locale, loaded once."""

    def __init__(self, tz: tzinfo, default_locale: str = "de") -> None:
        self.tz = tz
        self.default_locale = default_locale
        self._translators: dict[str, Translator] = {}

    def get(self, locale: str | None) -> Translator:
        """Return the translator for `locale`, falling back to the default locale."""
        code = negotiate_locale(locale, default=self.default_locale)
        translator = self._translators.get(code)
        if translator is None:
            translator = Translator(code, _cached_catalog(code), self.tz)
            self._translators[code] = translator
        return translator


@cache
def _cached_catalog(locale: str) -> gettext.NullTranslations:
    return _load_catalog(locale)
