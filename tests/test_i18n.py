"""Languages: complete catalogs, per-recipient translation, CLDR dates and plurals, direction."""

import gettext
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir

from bot.app import App
from bot.catalogs import problems, read_catalog
from bot.config import PROJECT_ROOT, SUPPORTED_LOCALES
from bot.i18n import (
    FSI,
    NATIVE_NAMES,
    PDI,
    RLM,
    Translations,
    Translator,
    language_name,
    negotiate_locale,
)
from tests.dialog import Dialog

BERLIN = ZoneInfo("Europe/Berlin")
KEYWORDS = {"_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "N_": None}


def source_messages() -> set[tuple[str | None, str]]:
    found = set()
    for folder in ("bot", "handlers"):
        for _file, _line, message, _comments, context in extract_from_dir(
            PROJECT_ROOT / folder, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)
        ):
            first = message[0] if isinstance(message, tuple) else message
            found.add((context, first))
    return found


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_catalog_is_complete_with_matching_placeholders(locale: str) -> None:
    assert problems(locale) == []


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_catalog_is_current_with_the_code(locale: str) -> None:
    catalog = {
        (m.context, m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in read_catalog(locale)
        if m.id
    }
    code = source_messages()
    assert code - catalog == set(), "run `make update` and translate the new sentences"
    assert catalog - code == set(), "run `make update` to drop sentences the code no longer has"


def test_language_is_negotiated_from_choice_hint_and_default() -> None:
    assert negotiate_locale("ar", "de", default="de") == "ar"
    assert negotiate_locale(None, "uk-UA", default="de") == "uk"
    assert negotiate_locale(None, "pt-BR", default="de") == "de"
    assert negotiate_locale(None, "../../etc", default="de") == "de"
    assert negotiate_locale("", "zh_Hant_TW", default="en") == "en"
    assert negotiate_locale("EN", None, default="de") == "en"


MOMENT = datetime(2025, 12, 4, 17, 0, tzinfo=UTC)  # 18:00 in Berlin


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("de", "Donnerstag, 4. Dezember, 18:00"),
        ("en", "Thursday, December 4"),
        ("ar", "الخميس"),
        ("fa", "پنجشنبه"),
    ],
)
def test_dates_follow_the_locale(locale: str, expected: str) -> None:
    t = Translations(BERLIN).get(locale)
    assert expected in t.datetime(MOMENT)


def test_english_time_is_twelve_hour_and_german_twenty_four() -> None:
    translations = Translations(BERLIN)
    assert "6:00" in translations.get("en").time(MOMENT)
    assert "PM" in translations.get("en").time(MOMENT)
    assert translations.get("de").time(MOMENT) == "18:00"


def test_summer_time_is_respected() -> None:
    t = Translations(BERLIN).get("de")
    assert t.time(datetime(2026, 7, 1, 16, 0, tzinfo=UTC)) == "18:00"
    assert t.time(datetime(2026, 1, 1, 17, 0, tzinfo=UTC)) == "18:00"


def test_relative_times() -> None:
    translations = Translations(BERLIN)
    assert translations.get("en").relative(MOMENT, MOMENT - timedelta(days=3)) == "in 3 days"
    assert translations.get("de").relative(MOMENT, MOMENT - timedelta(days=3)) == "in 3 Tagen"


@pytest.mark.parametrize(
    ("locale", "distinct_counts"),
    [
        ("ar", [1, 2, 3]),  # one, two, few (11 and 100 differ only in unwritten vowels)
        ("uk", [1, 2, 5]),
        ("ru", [1, 3, 11]),
    ],
)
def test_plural_forms_follow_the_language(locale: str, distinct_counts: list[int]) -> None:
    t = Translations(BERLIN).get(locale)
    plural = t._catalog.plural  # the catalog's own Plural-Forms rule
    assert len({plural(n) for n in distinct_counts}) == len(distinct_counts)
    texts = [
        t.ngettext("%(count)s upcoming event.", "%(count)s upcoming events.", n)
        for n in distinct_counts
    ]
    words = [" ".join(w for w in text.split() if not any(c.isdigit() for c in w)) for text in texts]
    assert len(set(words)) == len(distinct_counts), texts
    for n, text in zip(distinct_counts, texts, strict=True):
        assert t.number(n) in text
    if locale == "ar":
        assert {plural(n) for n in (0, 1, 2, 3, 11, 100)} == set(range(6))


def test_right_to_left_values_are_isolated() -> None:
    t = Translations(BERLIN).get("ar")
    text = t._("Where: %(place)s", place="Königstraße 5")
    assert f"{FSI}Königstraße 5{PDI}" in text
    assert t.directed("a\nb") == f"{RLM}a\n{RLM}b"
    assert Translations(BERLIN).get("de").isolate("x") == "x"


class BrokenCatalog(gettext.NullTranslations):
    def gettext(self, message: str) -> str:
        return "Kaputt %(nicht_da)s"


def test_a_broken_translation_falls_back_to_english(caplog: pytest.LogCaptureFixture) -> None:
    t = Translator("de", BrokenCatalog(), BERLIN)
    assert t._("Where: %(place)s", place="Rathaus") == "Where: Rathaus"
    assert "broken de translation" in caplog.text


def test_an_unknown_locale_falls_back_to_the_default() -> None:
    assert Translations(BERLIN, "de").get("xx-YY").locale == "de"
    assert Translations(BERLIN, "de").get("<script>").locale == "de"


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_each_language_renders_the_menu_and_an_event(app: App, locale: str) -> None:
    dialog = Dialog(app.conversation, user=f"user-{locale}")
    dialog.onboard(locale)
    t = app.translations.get(locale)
    menu_label = t.pgettext("button", "🤝 Volunteer offers")
    assert any(menu_label in label for label in dialog.labels)
    dialog.press("e:1")
    assert t._("Where: %(place)s", place="").rstrip(f" {FSI}{PDI}:：").split()[0] in dialog.text
    if t.rtl:
        assert all(line.startswith(RLM) for line in dialog.text.split("\n") if line)


def test_switching_from_german_to_arabic_and_back(app: App) -> None:
    dialog = Dialog(app.conversation, user="switcher")
    dialog.onboard("de")
    german = dialog.text
    dialog.press("lang_set:ar")
    assert dialog.last[0].rtl and RLM in dialog.text
    dialog.say("/menu")
    assert dialog.last[0].rtl
    dialog.press("lang_set:de")
    assert not dialog.last[0].rtl and RLM not in dialog.text
    dialog.say("/menu")
    assert dialog.text in german or "?" in dialog.text


def test_two_users_in_different_languages_never_mix(app: App) -> None:
    olena = Dialog(app.conversation, user="olena")
    ahmad = Dialog(app.conversation, user="ahmad")
    olena.onboard("uk")
    ahmad.onboard("ar")
    uk = app.translations.get("uk")
    ar = app.translations.get("ar")
    for _ in range(3):
        olena.say("/events")
        ahmad.say("/events")
        olena.press("e:1")
        ahmad.press("e:1")
        assert uk.pgettext("button", "◀ All events") in olena.labels
        assert not olena.last[0].rtl
        assert ar.directed(ar.pgettext("button", "◀ All events")) in ahmad.labels
        assert ahmad.last[0].rtl


def test_a_missing_translation_shows_english_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import io

    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    catalog = Catalog(locale="de")
    catalog.add("Hello", "Hallo")
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    t = Translator("de", gettext.GNUTranslations(buffer), BERLIN)
    assert t._("Hello") == "Hallo"
    assert t._("Goodbye %(name)s", name="Ada") == "Goodbye Ada"
    assert t._("Goodbye %(name)s", name="Bo") == "Goodbye Bo"
    assert caplog.text.count("no de translation of 'Goodbye %(name)s'") == 1


def test_every_language_is_named_in_itself_as_cldr_names_it() -> None:
    from babel import Locale

    assert set(NATIVE_NAMES) == set(SUPPORTED_LOCALES)
    for code, name in NATIVE_NAMES.items():
        cldr = Locale.parse(code).get_display_name(code) or ""
        assert name == cldr[:1].upper() + cldr[1:], code
        assert language_name(code) == name
