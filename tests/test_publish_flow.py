"""Dialog tables for publishing in German, English, Ukrainian, Arabic and Farsi: a way back at
every step, the answers given so far kept, the preview with places and length and any field
changed from it, the final screen, a draft left for a day, and changing every field later."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.app import App
from bot.clock import FakeClock
from db.engine import session_scope
from db.models import Attendance, AttendanceStatus, Category, District, Event, ItemStatus, Offer
from tests.conftest import make_settings
from tests.dialog import run_table
from tests.test_coordinator import coordinator, count, person

pytestmark = pytest.mark.both_databases

LOCALES = ["de", "en", "uk", "ar", "fa"]


@pytest.fixture
def city(database_url: str, clock: FakeClock) -> Iterator[App]:
    application = App(make_settings(database_url, admin_ids="console:admin"), clock=clock)
    yield application
    application.close()


def _(app: App, locale: str, msgid: str, **params: object) -> str:
    """A message as the bot says it in `locale` (the catalogs' completeness is test_i18n's)."""
    return app.translations.get(locale)._(msgid, **params)


def button(app: App, locale: str, label: str) -> str:
    return app.translations.get(locale).pgettext("button", label)


def topic(app: App, locale: str, position: int) -> str:
    with session_scope(app.engine) as session:
        found = session.exec(select(Category).where(Category.position == position)).one()
        return found.names.get(locale) or found.names["de"]


def event_titled(app: App, title: str) -> Event:
    with session_scope(app.engine) as session:
        found = session.exec(select(Event).where(Event.title == title)).one()
        session.expunge(found)
        return found


@pytest.mark.parametrize("locale", LOCALES)
def test_every_step_goes_back_and_keeps_what_was_answered(city: App, locale: str) -> None:
    carla = coordinator(city, locale=locale)
    back = button(city, locale, "◀ Back")
    keep = button(city, locale, "✅ Keep this")
    tools = _(city, locale, "Coordinator tools for: %(organisations)s", organisations="ASZ")
    title_question = _(city, locale, "What is the title? Short and clear, please.")
    run_table(
        carla,
        [
            ("[pub_new:event]", [_(city, locale, "Which topic fits best?"), back]),
            ("[pub_back]", [tools.split("ASZ")[0].strip()]),
            ("[pub_new:event]", []),
            ("[pub_pick:category:2]", [title_question, back]),
            ("Hoffest im Juni", [_(city, locale, "In one sentence: what will volunteers do?")]),
            ("[pub_back]", [title_question, "Hoffest im Juni", keep]),
            ("[pub_back]", [_(city, locale, "Which topic fits best?"), topic(city, locale, 2)]),
            ("[pub_keep]", [title_question, "Hoffest im Juni"]),
            ("Sommerfest im Hof", []),
            ("Wir feiern zusammen.", []),
            ("[pub_skip]", []),  # description
            ("[pub_pick:district:0]", []),
            ("[pub_skip]", []),  # place
            ("[pub_skip]", []),  # address
            ("morgen 17 Uhr", [_(city, locale, "How many hours will it last?")]),
            (
                "[pub_back]",
                [
                    _(
                        city,
                        locale,
                        'When does it start? For example: 12.12. 18:00 or "morgen 17 Uhr".',
                    )
                ],
            ),
            ("[pub_keep]", []),
            ("2", []),
            ("[pub_skip]", ["Sommerfest im Hof", _(city, locale, "Publish it now?")], 2),
            (
                "[pub_back]",
                [_(city, locale, "How many places are there? Skip if there is no limit.")],
            ),
            ("25", ["Sommerfest im Hof"], 2),
            ("[pub_back]", []),
            ("[pub_keep]", ["Sommerfest im Hof"], 2),
        ],
    )
    # Going back and forth saved one draft, not one per preview.
    assert count(city, Event, Event.status == ItemStatus.DRAFT) == 1
    assert count(city, Event, Event.title == "Hoffest im Juni") == 0
    carla.press("pub_ok")
    event = event_titled(city, "Sommerfest im Hof")
    assert event.status == ItemStatus.PUBLISHED and event.capacity == 25
    assert event.ends_at is not None and event.ends_at - event.starts_at == timedelta(hours=2)


PLACES = {
    "de": ("Plätze: 20.", "Dauer: 1,5 Stunden.", "Plätze: keine Begrenzung."),
    "en": ("Places: 20.", "Length: 1.5 hours.", "Places: no limit."),
    "uk": ("Місць: 20.", "Тривалість: 1,5 години.", "Місць: без обмеження."),
    "fa": ("تعداد جاها: \u206820\u2069.", "مدت: \u20681.5 ساعت\u2069.", "بدون محدودیت"),
    "ar": ("عدد الأماكن:", "المدة:", "عدد الأماكن: بلا حد."),
}


@pytest.mark.parametrize("locale", sorted(PLACES))
def test_the_preview_shows_places_and_length_and_changes_any_field(city: App, locale: str) -> None:
    places, length, no_limit = PLACES[locale]
    carla = coordinator(city, locale=locale)
    change = button(city, locale, "✏️ Change something")
    which = _(city, locale, "What would you like to change?")
    run_table(
        carla,
        [
            ("[pub_new:event]", []),
            ("[pub_pick:category:1]", []),
            ("Lesenachmittag", []),
            ("Wir lesen vor.", []),
            ("[pub_skip]", []),
            ("[pub_pick:district:0]", []),
            ("Stadtbibliothek", []),
            ("[pub_skip]", []),
            ("morgen 15 Uhr", []),
            ("1,5", []),
            ("20", ["Lesenachmittag", places, length, change], 2),
            ("[pub_fixes]", [which, button(city, locale, "✏️ Places")]),
            ("Irgendwas", [_(city, locale, "Please choose one of the buttons."), which], 2),
            ("[pub_fix:title]", ["Lesenachmittag"]),
            (
                "X",
                [
                    _(
                        city,
                        locale,
                        "That is too short: at least %(minimum)s characters, please.",
                        minimum=city.translations.get(locale).number(3),
                    )
                ],
                2,
            ),
            ("Vorlesen für Kinder", ["Vorlesen für Kinder", places], 2),
            ("[pub_fixes]", []),
            ("[pub_fix:capacity]", [button(city, locale, "⏭ Skip")]),
            ("[pub_skip]", [no_limit], 2),
            ("[pub_fixes]", []),
            ("[pub_fix:district]", [_(city, locale, "In which district?")]),
            ("[pub_pick:district:2]", ["Vorlesen für Kinder"], 2),
            ("[pub_fixes]", []),
            ("[pub_back]", ["Vorlesen für Kinder"], 2),
            # A button of the list of fields, pressed again from the preview, still works.
            ("[pub_fix:place]", ["Stadtbibliothek"]),
            ("[pub_keep]", ["Vorlesen für Kinder"], 2),
        ],
    )
    assert count(city, Event, Event.status == ItemStatus.DRAFT) == 1
    with session_scope(city.engine) as session:
        draft = session.exec(select(Event).where(Event.status == ItemStatus.DRAFT)).one()
        district = session.get(District, 2)
        assert draft.title == "Vorlesen für Kinder" and draft.capacity is None
        assert district is not None and draft.district_id == district.id
        assert draft.place_name == "Stadtbibliothek"


@pytest.mark.parametrize("locale", LOCALES)
def test_the_final_screen_says_how_residents_open_it_and_what_next(city: App, locale: str) -> None:
    carla = coordinator(city, locale=locale)
    for step in ("[pub_new:offer]", "[pub_pick:category:3]", "Leseclub", "Wir lesen vor."):
        run_table(carla, [(step, [])])
    for step in ("[pub_skip]", "[pub_pick:district:0]", "[pub_skip]", "[pub_skip]", "[pub_skip]"):
        carla.press(step[1:-1])
    carla.press("pub_skip")  # the contact: the preview
    assert len(carla.last) == 2
    carla.press("pub_ok")
    with session_scope(city.engine) as session:
        offer = session.exec(select(Offer).where(Offer.title == "Leseclub")).one()
        offer_id = offer.id
        assert offer.status == ItemStatus.PUBLISHED
    t = city.translations.get(locale)
    assert f"/start o_{offer_id}" in carla.text
    assert (
        _(
            city,
            locale,
            "What next? Announce it, add translations for residents of other "
            "languages, or publish another.",
        )
        in carla.text
    )
    for label in ("📣 Announce it", "🌐 Translations", "➕ Publish another", "📋 Manage it"):
        assert t.pgettext("button", label) in " ".join(carla.labels)
    run_table(
        carla,
        [
            (f"@{t.pgettext('button', '🌐 Translations')}", ["Leseclub"]),
            (
                "[pub_ok]",
                [
                    _(city, locale, "That button no longer works. Here is the main menu.").split(
                        "."
                    )[0]
                ],
            ),
        ],
    )
    carla.press("coord")
    carla.press("pub_new:offer")
    carla.press("pub_pick:category:3")
    carla.say("Zweiter Leseclub")
    assert count(city, Offer, Offer.status == ItemStatus.PUBLISHED, Offer.title == "Leseclub") == 1


def test_the_final_screen_gives_the_telegram_link_when_the_bot_has_a_username(
    database_url: str, clock: FakeClock
) -> None:
    app = App(
        make_settings(database_url, admin_ids="console:admin", telegram_bot_username="klbot"),
        clock=clock,
    )
    try:
        carla = coordinator(app, locale="de")
        carla.press("pub_new:offer")
        carla.press("pub_pick:category:1")
        carla.say("Leseclub")
        carla.say("Wir lesen vor.")
        for step in ("pub_skip", "pub_pick:district:0", "pub_skip", "pub_skip", "pub_skip"):
            carla.press(step)
        carla.press("pub_skip")
        carla.press("pub_ok")
        assert "Alle können es mit diesem Link öffnen: https://t.me/klbot?start=o_" in carla.text
        assert "Wie geht es weiter?" in carla.text
    finally:
        app.close()


GONE = (
    "This draft was deleted because it was left unfinished for a day. Nothing was "
    "published; please start again."
)


@pytest.mark.parametrize("locale", ["de", "uk", "fa"])
def test_a_draft_left_for_a_day_before_the_preview_is_gone_when_picked_up(
    city: App, clock: FakeClock, locale: str
) -> None:
    carla = coordinator(city, locale=locale)
    carla.press("pub_new:event")
    carla.press("pub_pick:category:1")
    carla.say("Leseclub")
    clock.advance(timedelta(hours=23))
    carla.say("Wir lesen vor.")  # still there after 23 hours
    assert _(city, locale, "Anything else people should know? A few sentences.") in carla.text
    clock.advance(timedelta(hours=25))
    run_table(carla, [("Mehr dazu", [_(city, locale, GONE)])])
    assert carla.labels and "pub_" not in "".join(b.action for b in carla.last[0].flat_buttons())
    assert count(city, Event, Event.title == "Leseclub") == 0


def test_typed_text_at_the_organisation_step_asks_again_and_back_leaves(city: App) -> None:
    boss = person(city, "admin", "fa")
    which = _(city, "fa", "For which organisation?")
    run_table(
        boss,
        [
            ("[pub_new:offer]", [which, button(city, "fa", "◀ Back")]),
            ("سازمان اول", [_(city, "fa", "Please choose one of the buttons."), which], 2),
            ("[pub_org:1]", [_(city, "fa", "Which topic fits best?")]),
            ("[pub_back]", [which]),
            ("[pub_back]", [button(city, "fa", "➕ New offer")]),
        ],
    )


def test_a_time_passed_by_the_publish_press_is_asked_again(city: App, clock: FakeClock) -> None:
    carla = coordinator(city, locale="uk")
    carla.press("pub_new:event")
    carla.press("pub_pick:category:1")
    carla.say("Лекція про сад")
    carla.say("Розповідаємо про сад.")
    for step in ("pub_skip", "pub_pick:district:0", "pub_skip", "pub_skip"):
        carla.press(step)
    carla.say("сьогодні 23:00")
    carla.press("pub_skip")
    carla.press("pub_skip")
    clock.advance(timedelta(hours=20))
    run_table(
        carla,
        [
            (
                "[pub_ok]",
                [_(city, "uk", "That time is in the past. Please give a time in the future.")],
                2,
            ),
            ("завтра 18:00", ["Лекція про сад"], 2),
            ("[pub_ok]", ["Лекція про сад"]),
        ],
    )
    assert event_titled(city, "Лекція про сад").status == ItemStatus.PUBLISHED


MANAGE = {
    "de": "Gespeichert.",
    "en": "Saved.",
    "uk": "Збережено.",
    "ar": "تم الحفظ.",
    "fa": "ذخیره شد.",
}


@pytest.mark.parametrize("locale", ["de", "en", "uk", "ar"])
def test_manage_changes_every_field_of_an_event(city: App, clock: FakeClock, locale: str) -> None:
    saved = MANAGE[locale]
    carla = coordinator(city, locale=locale)
    with session_scope(city.engine) as session:
        event = session.get(Event, 1)
        assert event is not None
        event.capacity = 1
    goers = [person(city, f"g{i}", "de") for i in range(3)]
    for goer in goers:
        goer.press("go:1")  # one going, two waiting
    carla.press("item:e:1")
    for label in ("✏️ Topic", "✏️ Summary", "✏️ District", "✏️ Length", "✏️ Places"):
        assert button(city, locale, label) in " ".join(carla.labels)
    promoted = city.translations.get(locale).ngettext(
        "Saved. %(count)s person from the waiting list got a place and was told.",
        "Saved. %(count)s people from the waiting list got a place and were told.",
        2,
    )
    run_table(
        carla,
        [
            ("[edit:e:1:summary]", [_(city, locale, "In one sentence: what will volunteers do?")]),
            # The demo city is translated: a changed text says which translations are outdated.
            ("Neue Kurzbeschreibung", [saved], 3),
            ("[edit:e:1:category]", [_(city, locale, "Which topic fits best?")]),
            ("Kultur", [_(city, locale, "Please choose one of the buttons.")], 2),
            ("[edit_pick:4]", [saved], 2),
            ("[edit:e:1:district]", [_(city, locale, "In which district?")]),
            ("[edit_pick:0]", [saved], 2),
            ("[edit:e:1:duration]", [_(city, locale, "How many hours will it last?")]),
            ("drei", [_(city, locale, "Please write the length in hours, such as 2 or 1.5.")], 2),
            ("3", [saved], 2),
            ("[edit:e:1:capacity]", []),
            ("3", [promoted], 2),
            ("[edit:e:1:capacity]", []),
            ("3", [_(city, locale, "Nothing changed: it already says that. Nobody was told.")], 2),
            ("[edit:e:1:description]", [button(city, locale, "🗑 Leave it empty")]),
            ("[edit_clear]", [saved], 3),
            ("[edit:e:1:title]", [button(city, locale, "◀ Back")]),
            ("[item:e:1]", []),
            ("Nicht gespeichert", [], 1),
        ],
    )
    with session_scope(city.engine) as session:
        event = session.get(Event, 1)
        assert event is not None
        assert event.summary == "Neue Kurzbeschreibung" and event.description == ""
        category = session.exec(select(Category).where(Category.id == 4)).one()
        assert event.category_id == category.id and event.district_id is None
        assert event.ends_at is not None and event.ends_at - event.starts_at == timedelta(hours=3)
        assert event.capacity == 3 and event.title != "Nicht gespeichert"
        going = session.exec(
            select(Attendance).where(
                Attendance.event_id == 1, Attendance.status == AttendanceStatus.GOING
            )
        ).all()
        assert len(going) == 3


@pytest.mark.parametrize("locale", ["de", "uk", "fa"])
def test_manage_changes_an_offers_schedule_and_contact(city: App, locale: str) -> None:
    carla = coordinator(city, locale=locale)
    with session_scope(city.engine) as session:
        offer = session.exec(select(Offer).where(Offer.organisation_id == 1)).first()
        assert offer is not None
        offer_id = offer.id
    run_table(
        carla,
        [
            (f"[item:o:{offer_id}]", [button(city, locale, "✏️ When and how often")]),
            (f"[edit:o:{offer_id}:schedule]", []),
            ("Jeden Mittwoch, 2 Stunden", [MANAGE[locale]], 3),
            (f"[edit:o:{offer_id}:contact]", []),
            ("info@asz.example", [], 3),
            (
                f"[edit:o:{offer_id}:when]",
                [_(city, locale, "That button no longer works. Here is the main menu.")],
            ),
        ],
    )
    with session_scope(city.engine) as session:
        offer = session.get(Offer, offer_id)
        assert offer is not None
        assert (offer.schedule, offer.contact) == ("Jeden Mittwoch, 2 Stunden", "info@asz.example")


@pytest.mark.parametrize(("locale", "one", "two"), [("de", "1", "2"), ("fa", "۱", "۲")])
def test_a_typed_number_at_a_text_question_presses_its_button(
    city: App, locale: str, one: str, two: str
) -> None:
    """As on Signal and the console, where buttons are numbered lines."""
    carla = coordinator(city, locale=locale)
    run_table(
        carla,
        [
            ("[pub_new:offer]", []),
            (
                "[pub_pick:category:1]",
                [_(city, locale, "What is the title? Short and clear, please.")],
            ),
            (one, [_(city, locale, "Which topic fits best?")]),  # 1: back
            ("[pub_keep]", []),
            ("Leseclub", []),
            ("Wir lesen vor.", []),
            (one, [_(city, locale, "In which district?")]),  # 1: skip the description
            ("[pub_back]", []),
            (two, [_(city, locale, "In one sentence: what will volunteers do?")]),  # 2: back
        ],
    )
    with session_scope(city.engine) as session:
        assert session.exec(select(Offer).where(Offer.title.in_(["1", "۱"]))).first() is None


@pytest.mark.parametrize("locale", ["de", "en", "uk", "ar"])
def test_what_volunteers_need_is_changed_from_the_preview_and_in_manage(
    city: App, locale: str
) -> None:
    need = button(city, locale, "✏️ What volunteers need")
    carla = coordinator(city, locale=locale)
    carla.press("pub_new:offer")
    carla.press("pub_pick:category:1")
    carla.say("Leseclub")
    carla.say("Wir lesen vor.")
    for step in ("pub_skip", "pub_pick:district:0", "pub_skip", "pub_skip", "pub_skip"):
        carla.press(step)
    carla.press("pub_skip")
    run_table(
        carla,
        [
            ("[pub_fixes]", [need]),
            ("[pub_fix:requirements]", [button(city, locale, "⏭ Skip")]),
            (
                "x" * 1001,
                [
                    _(
                        city,
                        locale,
                        "That is too long: at most %(limit)s characters, please.",
                        limit=city.translations.get(locale).number(1000),
                    )
                ],
                2,
            ),
            ("Geduld und Freude am Lesen", ["Geduld und Freude am Lesen"], 2),
            ("[pub_ok]", ["Leseclub"]),
        ],
    )
    with session_scope(city.engine) as session:
        offer = session.exec(select(Offer).where(Offer.title == "Leseclub")).one()
        assert offer.requirements == "Geduld und Freude am Lesen"
        offer_id = offer.id
    run_table(
        carla,
        [
            (f"[item:o:{offer_id}]", [need]),
            (f"[edit:o:{offer_id}:requirements]", ["Geduld und Freude am Lesen"]),
            ("[edit_clear]", [MANAGE.get(locale, "Saved.")], 2),
        ],
    )
    with session_scope(city.engine) as session:
        offer = session.get(Offer, offer_id)
        assert offer is not None and offer.requirements == ""
