"""Search in dialogs: the three queries that used to mislead (an address, a Ukrainian word, a
typo) answer precisely, in German, Ukrainian and Arabic (right to left)."""

from __future__ import annotations

import pytest

from bot.app import App
from tests.dialog import Dialog, run_table
from tests.test_search import results, speaker

pytestmark = pytest.mark.both_databases

AT_KOENIGSTRASSE = {"e:1", "o:1", "o:5", "o:10", "o:17", "e:6", "e:7"}

# How each language heads the results, and the labels of the items that used to come too early.
HEADINGS = {
    "de": "7 Treffer für „Konigstrasse“, die besten zuerst:",
    "uk": "7 результатів за запитом «Konigstrasse», спершу найкращі збіги:",
    "ar": "نتائج للبحث عن «\u2068Konigstrasse\u2069»",  # placeholders isolated in RTL text
}
PAGES = {
    "de": "Seite {page} von 2.",
    "uk": "Сторінка {page} з 2.",
    "ar": "الصفحة \u2068{page}\u2069 من \u20682\u2069.",
}
FOOTBALL = {"de": "Kinder-Fußballmannschaft", "uk": "футбольної команди", "ar": "كرة قدم"}
CULTURE = {"de": "Kulturveranstaltungen", "uk": "культурних заходах", "ar": "الفعاليات الثقافية"}
READING_BUDDY = {"de": "Lesepatin oder Lesepate", "uk": "Читання для дітей", "ar": "قراءة القصص"}


@pytest.mark.parametrize("locale", ["de", "uk", "ar"])
def test_a_street_finds_only_what_is_in_that_street(app: App, locale: str) -> None:
    dialog = speaker(app, locale)
    run_table(dialog, [("Konigstrasse", [HEADINGS[locale], PAGES[locale].format(page=1)])])
    first = results(dialog)
    assert first[0] == "e:1"  # the Democracy Café in the Königstraße, named in its title
    assert dialog.last[0].rtl == (locale == "ar")
    next_page = [a for a in _actions(dialog) if a.startswith("srch:")][-1]  # the pager is last
    run_table(dialog, [(f"[{next_page}]", [PAGES[locale].format(page=2)])])
    second = results(dialog)
    assert len(first) == 5 and len(second) == 2
    assert set(first) | set(second) == AT_KOENIGSTRASSE


def _actions(dialog: Dialog) -> list[str]:
    return [b.action for r in dialog.last for b in r.flat_buttons()]


@pytest.mark.parametrize("locale", ["de", "uk", "ar"])
def test_a_ukrainian_word_finds_its_item_first_and_alone(app: App, locale: str) -> None:
    dialog = speaker(app, locale)
    run_table(dialog, [("читання", [READING_BUDDY[locale]])])
    assert results(dialog) == ["o:1"]
    assert FOOTBALL[locale] not in "\n".join(dialog.labels)


@pytest.mark.parametrize("locale", ["de", "uk", "ar"])
def test_a_typo_finds_the_reading_buddies_and_nothing_else(app: App, locale: str) -> None:
    dialog = speaker(app, locale)
    run_table(dialog, [("lesepatte", [READING_BUDDY[locale]])])
    assert results(dialog) == ["o:1", "e:7"]
    assert CULTURE[locale] not in "\n".join(dialog.labels)


@pytest.mark.parametrize(
    ("locale", "query"),
    [("de", "Lesepate"), ("uk", "читання для дітей"), ("ar", "قراءة القصص"), ("fa", "کتاب‌خوانی")],
)
def test_reading_in_the_readers_own_words(app: App, locale: str, query: str) -> None:
    dialog = speaker(app, locale)
    dialog.say(query)
    assert results(dialog)[0] == "o:1"
    assert set(results(dialog)) <= {"o:1", "e:7"}
    assert dialog.last[0].rtl == (locale in ("ar", "fa"))
