"""Search: typed text finds offers and events in any language, with typos, best matches first."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import insert
from sqlmodel import select

from bot.app import App
from bot.clock import FakeClock
from bot.i18n import RLM
from db.engine import session_scope
from db.models import Category, ItemStatus, Offer, OfferTranslation
from db.search import fold, prepare, query_plan, reindex_all, search
from tests.conftest import START
from tests.dialog import Dialog, run_table
from tests.test_dialog_browse import english

pytestmark = pytest.mark.both_databases


def speaker(app: App, locale: str, user: str | None = None) -> Dialog:
    """Return a user who has chosen `locale` as their language."""
    dialog = Dialog(app.conversation, user=user or f"user-{locale}")
    dialog.onboard(locale)
    return dialog


def results(dialog: Dialog) -> list[str]:
    """Return the actions of the result buttons of the last answer, best first."""
    return [
        b.action for r in dialog.last for b in r.flat_buttons() if b.action.startswith(("o:", "e:"))
    ]


def result_labels(dialog: Dialog) -> list[str]:
    return [
        b.label.removeprefix(RLM)
        for r in dialog.last
        for b in r.flat_buttons()
        if b.action.startswith(("o:", "e:"))
    ]


# Demo ids: offers and events are numbered in the order of db/demo/kaiserslautern.json.
READING_BUDDY, HOMEWORK, SMARTPHONE_MEETUP, DIGITAL_HELP_DESK = "o:1", "o:2", "o:11", "o:10"
DEMOCRACY_CAFE, LANGUAGE_CAFE, INFO_EVENING = "e:1", "e:3", "e:2"


@pytest.mark.parametrize(
    ("query", "best", "also"),
    [
        # The tandem (o:7) is sixth since the demo city speaks seven languages.
        ("deutschkurs", LANGUAGE_CAFE, ["o:6"]),
        ("deutschkurz", LANGUAGE_CAFE, ["o:6", "o:7"]),  # typo
        ("Senioren Handy", SMARTPHONE_MEETUP, [DIGITAL_HELP_DESK, "e:6"]),
        ("Senioren Handi", SMARTPHONE_MEETUP, [DIGITAL_HELP_DESK, "e:6"]),  # typo
        ("lesepatte", READING_BUDDY, ["e:7"]),  # typo
        ("Konigstrasse", DEMOCRACY_CAFE, ["o:1", "o:17"]),  # no umlaut, ss for ß
        ("Koenigstrasse", DEMOCRACY_CAFE, ["o:1"]),
        ("Lautern", INFO_EVENING, ["o:6"]),  # part of Kaiserslautern, and Sprachcafé Lautern
        ("lammchesberg", SMARTPHONE_MEETUP, []),  # a district, without its umlaut
    ],
)
def test_german_queries_with_typos_and_missing_umlauts(
    app: App, query: str, best: str, also: list[str]
) -> None:
    dialog = speaker(app, "de")
    dialog.say(query)
    found = results(dialog)
    assert found, dialog.text
    assert found[0] == best, (query, result_labels(dialog))
    assert set(also) <= set(found), found


def test_english_queries_find_the_translations(app: App) -> None:
    dialog = english(app)
    dialog.say("homework")
    assert results(dialog)[0] == HOMEWORK
    assert result_labels(dialog)[0] == "🤝 Homework help for primary school children"
    dialog.say("reading children")
    assert results(dialog)[0] in (READING_BUDDY, "e:7")
    assert "results for “reading children”, best matches first:" in dialog.text


def test_ukrainian_query(app: App) -> None:
    dialog = speaker(app, "uk")
    dialog.say("читання")
    assert results(dialog)[0] == READING_BUDDY
    assert result_labels(dialog)[0] == "🤝 Читання для дітей у районному бюро"
    dialog.say("допомога з домашніми завданнями")
    assert results(dialog)[0] == HOMEWORK


def test_russian_query_finds_help_for_children(app: App) -> None:
    dialog = speaker(app, "ru")
    dialog.say("помощь детям")
    found = results(dialog)
    assert {READING_BUDDY, HOMEWORK} & set(found), found


def test_arabic_query_right_to_left(app: App) -> None:
    dialog = speaker(app, "ar")
    dialog.say("مساعدة الأطفال")
    found = results(dialog)
    assert found[0] == HOMEWORK, result_labels(dialog)
    assert dialog.last[0].rtl
    assert "مساعدة أطفال المرحلة الابتدائية" in result_labels(dialog)[0]
    # Alone, "مساعدة" is the Arabic word for /help; after "Search" it is what the user looks for.
    dialog.press("search")
    dialog.say("مساعدة")
    assert HOMEWORK in results(dialog)


def test_a_typed_number_opens_a_result(app: App) -> None:
    dialog = english(app)
    run_table(
        dialog,
        [
            ("lesepatte", ["2 results for “lesepatte”", "Reading buddy"]),
            ("1", ["Reading buddy at the neighbourhood office", "Organisation:"]),
        ],
    )


def test_a_mistyped_number_shows_the_results_again(app: App) -> None:
    dialog = english(app)
    dialog.say("Kaiserslautern")
    replies = dialog.say("12")
    assert "Please choose a number from 1 to 9." in replies[0].text
    assert "results for “Kaiserslautern”" in dialog.text


def test_a_mistyped_number_after_one_page_of_results_shows_the_menu(app: App) -> None:
    # The query of a single page is not kept (tests/test_search_privacy.py), so the results
    # cannot be shown again.
    dialog = english(app)
    dialog.say("lesepatte")
    replies = dialog.say("9")
    assert "Please choose a number from 1 to 4." in replies[0].text
    assert "What would you like to do?" in dialog.text


def test_the_search_button_asks_then_searches(app: App) -> None:
    dialog = english(app)
    run_table(
        dialog,
        [
            ("/menu", ["What would you like to do?", "🔎 Search"]),
            ("@Search", ["What are you looking for?"]),
            # In the search flow even a command word is what the user looks for.
            ("Gelterswoog", ["results for “Gelterswoog”", "Clean-up day at Gelterswoog"]),
            ("@New search", ["What are you looking for?"]),
            ("/search", ["What are you looking for?"]),
            ("/menu", ["What would you like to do?"]),
        ],
    )


def test_typing_in_the_main_menu_searches(app: App) -> None:
    dialog = english(app)
    dialog.say("/menu")
    dialog.say("Sprachcafe")
    assert LANGUAGE_CAFE in results(dialog)


def test_empty_and_absurd_queries_get_tips_and_the_menu(app: App) -> None:
    dialog = english(app)
    for query, expected in [
        ("zzqxv", "I found no offers or events for “zzqxv”."),
        ("?!?! …", "Sorry, I did not understand that. To search, type a word"),
        ("🙂🎉🤝", "Sorry, I did not understand that. To search, type a word"),
        ("what is this", "Sorry, I did not understand that."),
        ("Lesepate " * 30, "That is too long to search for."),
    ]:
        replies = dialog.say(query)
        assert len(replies) == 1
        assert expected in dialog.text, (query, dialog.text)
        assert "🔎 Search" in dialog.labels and "🤝 Volunteer offers" in dialog.labels
    dialog.say("zzqxv")
    assert "Tips: check the spelling" in dialog.text


def test_no_results_in_german(app: App) -> None:
    dialog = speaker(app, "de")
    dialog.say("zzqxv")
    de = app.translations.get("de")
    assert de._("I found no offers or events for “%(query)s”.", query="zzqxv") in dialog.text
    assert "I found no offers" not in dialog.text, "the answer is in German"


def test_unknown_commands_are_not_searched(app: App) -> None:
    dialog = english(app)
    dialog.say("/lesepate")
    assert "did not understand" in dialog.text


def test_paging_through_results(app: App) -> None:
    dialog = english(app)
    run_table(dialog, [("Kaiserslautern", ["results for “Kaiserslautern”", "Page 1 of"])])
    first = results(dialog)
    assert len(first) == 5
    run_table(dialog, [("@Next", ["Page 2 of"])])
    assert dialog.last[0].replace
    second = results(dialog)
    assert len(second) == 5 and not set(first) & set(second)
    run_table(dialog, [("@Previous", ["Page 1 of"])])
    assert results(dialog) == first
    old_next = "srch:1:1"
    dialog.say("Gelterswoog")
    dialog.press(old_next)
    assert "no longer works" in dialog.text, "a pager of an older search is stale"


def test_a_typed_deep_link_opens_the_item(app: App) -> None:
    dialog = english(app)
    dialog.say("start o_3")
    assert "Helping out in the open workshop" in dialog.text
    dialog.say("e_2")
    assert "Getting to know volunteering" in dialog.text


def test_only_published_offers_and_upcoming_events(app: App, clock: FakeClock) -> None:
    with session_scope(app.engine) as session:
        session.get(Offer, 11).status = ItemStatus.ARCHIVED
    dialog = english(app)
    dialog.say("Senioren Handy")
    assert SMARTPHONE_MEETUP not in results(dialog)
    assert "e:6" in results(dialog)
    clock.advance(timedelta(days=5))  # the digital help desk event (in 4 days) is over
    dialog.say("Senioren Handy")
    assert "e:6" not in results(dialog) and DIGITAL_HELP_DESK in results(dialog)


def test_the_index_follows_edits_without_being_told(app: App, clock: FakeClock) -> None:
    with session_scope(app.engine) as session:
        offer = session.get(Offer, 9)
        offer.title = "Vorlesepatin für Bilderbücher"
        translation = session.exec(
            select(OfferTranslation).where(
                OfferTranslation.offer_id == 9, OfferTranslation.locale == "en"
            )
        ).one()
        translation.title = "Picture book reader"
        session.add(
            Offer(
                organisation_id=1,
                category_id=1,
                title="Schachpatin für Jugendliche",
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
        category = session.get(Category, 9)  # sport
        category.names = {**category.names, "de": "Sport und Bewegung mit Trampolin"}
    dialog = english(app)
    dialog.say("Bilderbuch")
    assert results(dialog)[0] == "o:9"
    dialog.say("picture book")
    assert results(dialog)[0] == "o:9"
    dialog.say("Schachpate")
    assert results(dialog)[0] == "o:19", "the new offer is found at once"
    dialog.say("Trampolin")
    sport_offers = {"o:14", "o:15"}
    assert sport_offers <= set(results(dialog)), "a renamed topic reaches its offers"
    with session_scope(app.engine) as session:
        session.delete(session.get(Offer, 9))
    dialog.say("Bilderbuch")
    assert "o:9" not in results(dialog)


def test_the_portable_search_agrees_with_the_index(app: App, clock: FakeClock) -> None:
    with session_scope(app.engine) as session:
        for query in ("Senioren Handi", "lesepatte", "Konigstrasse", "مساعدة", "zzqxv"):
            fts = search(session, query, now=clock.now(), size=50, portable=False)
            like = search(session, query, now=clock.now(), size=50, portable=True)
            assert {(h.kind, h.id) for h in fts.items} == {(h.kind, h.id) for h in like.items}
            if fts.items:
                assert fts.items[0].score == like.items[0].score


def test_folding() -> None:
    assert fold("Königstraße") == fold("Koenigstrasse") == fold("Konigstrasse") == "konigstrasse"
    assert fold("Café Crème") == "cafe creme"
    assert fold("Ärzte ÜBER Öfen") == fold("Aerzte ueber Oefen")
    assert fold("إلى") == fold("الى") and fold("مدرسة") == fold("مدرسه")
    assert fold("کافه‌های") == fold("كافههاي")
    assert fold("їжак ґанок") == fold("ижак ганок")
    assert fold("١٢ ۳") == "12 3"
    assert prepare("?!?! 🙂 …").words == ()
    assert prepare("what is this").words == ()
    assert prepare("Wo finde ich einen Deutschkurs?").words == ("finde", "deutschkurs")


def add_offers(app: App, count: int) -> int:
    """Add `count` generated offers (the same ones on every database); return how many items
    the search index holds then."""
    words = [
        *("Garten", "Nachbarschaft", "Kinder", "Sport", "Musik", "Theater", "Umwelt", "Küche"),
        *("Fahrrad", "Bibliothek", "Tiere", "Computer", "Kunst", "Wandern", "Reparatur"),
        *("Spielplatz", "Tafel", "Kleiderkammer", "Chor", "Pflege"),
    ]
    rng = random.Random(26)
    rows = []
    for n in range(count):
        a, b = rng.sample(words, 2)
        rows.append(
            {
                "organisation_id": 1 + n % 7,
                "category_id": 1 + n % 10,
                "source_id": f"many-{n}",
                "title": f"{a} und {b} {n}",
                "summary": f"Hilfe bei {a}",
                "status": ItemStatus.PUBLISHED,
                "created_at": START,
                "updated_at": START,
            }
        )
    with session_scope(app.engine) as session:
        session.execute(insert(Offer), rows)
        return reindex_all(session)


@pytest.mark.sqlite_only(
    "reads SQLite's query plan for its FTS5 index; test_postgres_search.py covers 10,000 offers"
)
def test_ten_thousand_offers_use_the_full_text_index(app: App, clock: FakeClock) -> None:
    now = clock.now()
    assert add_offers(app, 10_000) == 10_000 + 18 + 8
    with session_scope(app.engine) as session:
        plan = query_plan(session, "Senioren Handy", now=now)
        assert any("VIRTUAL TABLE INDEX" in step and ":M" in step for step in plan), plan
        assert not any(step.startswith("SCAN") and "VIRTUAL TABLE" not in step for step in plan)
        found = search(session, "Senioren Handi", now=now)
        assert (found.items[0].kind, found.items[0].id) == ("offer", 11)
        assert search(session, "Kleiderkamer", now=now).total > 5


@pytest.mark.parametrize("locale", ["uk", "fa"])
def test_results_in_the_readers_language_come_first(
    app: App, clock: FakeClock, locale: str
) -> None:
    """Of two offers that match alike, the one translated into the reader's language is first;
    a reader of the original's language keeps the usual order."""
    with session_scope(app.engine) as session:
        untranslated = Offer(
            organisation_id=1,
            category_id=1,
            title="Gartenpate Stiftsplatz",
            status=ItemStatus.PUBLISHED,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        translated = Offer(
            organisation_id=1,
            category_id=1,
            title="Gartenpatin Stiftsplatz",
            status=ItemStatus.PUBLISHED,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        session.add_all([untranslated, translated])
        session.flush()
        session.add(
            OfferTranslation(
                offer_id=translated.id, locale=locale, title="Stiftsplatz: garden (translated)"
            )
        )
        ids = f"o:{untranslated.id}", f"o:{translated.id}"
    reader = speaker(app, locale)
    reader.say("Stiftsplatz")
    assert results(reader)[:2] == [ids[1], ids[0]]
    german = speaker(app, "de")
    german.say("Stiftsplatz")
    assert results(german)[:2] == [ids[0], ids[1]]
