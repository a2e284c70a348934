"""Dialog tables for "I'd like to help" as a handoff: who is told (coordinators, else admins, else
nobody, and the resident hears which), one open request per person and offer, messages back and
forth with the writer's language named, closing from either side, erasure and retention."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.clock import FakeClock
from bot.messages import Incoming, Reply
from db.engine import session_scope
from db.models import (
    HelpMessage,
    HelpRequest,
    HelpRequestStatus,
    Offer,
    OutboxMessage,
    OutboxStatus,
)
from db.privacy import RetentionPolicy, delete_closed_help_requests
from tests.conftest import make_settings
from tests.dialog import Dialog, run_table
from tests.test_coordinator import coordinator, count, person, recording_worker

pytestmark = pytest.mark.both_databases

MARIA = {"display_name": "Maria K.", "handle": "@maria_k"}

# What the resident hears, by who will answer.
TO_COORDINATORS = {
    "de": "an die Koordination von",
    "en": "to the coordinators of",
    "uk": "координаторам",
    "ar": "إلى منسقي",
    "fa": "به هماهنگ‌کنندگان",
}
TO_ADMINS = {
    "de": "an die Administration des Bots bei",
    "en": "to the bot's administrators at",
    "uk": "адміністраторам бота в",
    "ar": "إلى مشرفي البوت لدى",
    "fa": "به مدیران بات در",
}
TO_NOBODY = {
    "de": "noch niemand erreichbar",
    "en": "nobody at",
    "uk": "поки ніхто не на зв’язку",
    "ar": "لا يمكن الوصول إلى أحد",
    "fa": "هنوز هیچ‌کس",
}
ALREADY = {
    "de": "Du hast schon gefragt",
    "en": "You already asked to help",
    "uk": "Ви вже подали заявку",
    "ar": "لقد طلبت المساعدة",
    "fa": "شما قبلاً برای کمک",
}
WRITE = {
    "de": "Nachricht schreiben",
    "en": "Write a message",
    "uk": "Написати повідомлення",
    "ar": "اكتب رسالة",
    "fa": "نوشتن پیام",
}
TOO_LONG = {
    "de": "Deine Nachricht hat 501 Zeichen; höchstens 500 passen.",
    "en": "Your message has 501 characters; at most 500 fit.",
    "uk": "Ваше повідомлення має 501 символ; вміщається не більше ніж 500.",
    "ar": "يُرجى اختصارها وإرسالها مجددًا",
    "fa": "پیام شما 501 نویسه دارد",
}
ON_ITS_WAY = {
    "de": "ist unterwegs",
    "en": "is on its way",
    "uk": "уже в дорозі",
    "ar": "في طريقها",
    "fa": "در راه است",
}
# "X writes (in <language of the writer>)", as each reader sees it: the writer is German.
WRITES_IN_GERMAN = {
    "de": "schreibt (auf Deutsch)",
    "en": "writes (in German)",
    "uk": "пише (мова: німецька)",
    "ar": "(باللغة الألمانية)",
    "fa": "(به زبان آلمانی)",
}
# The resident's language as a German coordinator reads it.
IN_GERMAN_READER = {
    "de": "auf Deutsch",
    "en": "auf Englisch",
    "uk": "auf Ukrainisch",
    "ar": "auf Arabisch",
    "fa": "auf Persisch",
}
LANGUAGE_IN_GERMAN = {
    "de": "Deutsch",
    "en": "Englisch",
    "uk": "Ukrainisch",
    "ar": "Arabisch",
    "fa": "Persisch",
}
CLOSED_BY_ORGANISATION = {
    "de": "hat deine Anfrage zum Mithelfen bei",
    "en": "has closed your request to help with",
    "uk": "закриває вашу заявку на допомогу",
    "ar": "طلبك للمساعدة في",
    "fa": "درخواست شما برای کمک در",
}
YOUR_REQUEST_CLOSED = {
    "de": "Deine Anfrage ist geschlossen.",
    "en": "Your request is closed.",
    "uk": "Вашу заявку закрито.",
    "ar": "أُغلق طلبك.",
    "fa": "درخواست شما بسته شد.",
}
NO_LONGER_OPEN = {
    "de": "nicht mehr offen",
    "en": "no longer open",
    "uk": "вже не відкрита",
    "ar": "لم يعد مفتوحًا",
    "fa": "دیگر باز نیست",
}


@pytest.fixture
def city(database_url: str, clock: FakeClock) -> Iterator[App]:
    """The demo city (no organisation has a coordinator) with one admin configured."""
    application = App(make_settings(database_url, admin_ids="console:admin"), clock=clock)
    yield application
    application.close()


def asz_offer(app: App) -> int:
    with session_scope(app.engine) as session:
        offer = session.exec(
            select(Offer).where(Offer.organisation_id == 1).order_by(col(Offer.id))
        ).first()
        assert offer is not None and offer.id is not None
        return offer.id


def press(app: App, user: str, action: str, **profile: Any) -> list[Reply]:
    """Press a button as a messenger that tells who the person is (name and contact)."""
    return app.conversation.handle(Incoming("console", user, action=action, **profile))


def requests(app: App) -> list[HelpRequest]:
    with session_scope(app.engine) as session:
        found = session.exec(select(HelpRequest).order_by(col(HelpRequest.id))).all()
        session.expunge_all()
        return list(found)


def request_id(app: App) -> int:
    [request] = requests(app)
    assert request.id is not None
    return request.id


async def delivered(app: App, clock: FakeClock) -> dict[str, list[str]]:
    """Deliver everything due; return the texts each person got, without direction marks."""
    transport, worker = recording_worker(app, clock)
    await worker.deliver_due()
    texts: dict[str, list[str]] = {}
    for key, replies in transport.sent:
        text = "\n".join(reply.text for reply in replies)
        texts.setdefault(key, []).append(re.sub("[\u200e\u200f\u2066-\u2069]", "", text))
    return texts


@pytest.mark.parametrize("locale", ["de", "en", "uk", "ar"])
async def test_with_no_coordinator_the_admin_is_told_and_the_resident_hears_so(
    city: App, clock: FakeClock, locale: str
) -> None:
    person(city, "admin", "de")
    offer_id = asz_offer(city)
    rita = person(city, "rita", locale)
    run_table(
        rita,
        [
            (f"[hr_ask:{offer_id}]", ["ASZ", "✅"]),
            (f"[hr_bot:{offer_id}]", [TO_ADMINS[locale], "Engagierte Stadt", WRITE[locale]]),
        ],
    )
    texts = await delivered(city, clock)
    [notice] = texts["admin"]
    assert "Neue Anfrage zum Mithelfen" in notice
    assert f"Sprache der Person: {LANGUAGE_IN_GERMAN[locale]}." in notice
    assert "keine Koordination" in notice and "als Administrator" in notice
    assert "nur über diesen Bot" in notice and "Kontakt: -" not in notice
    assert "rita" not in texts  # the resident got their answer in the chat, nothing more


@pytest.mark.parametrize("locale", ["de", "uk", "fa"])
async def test_with_nobody_to_answer_the_resident_is_told_honestly(
    database_url: str, clock: FakeClock, locale: str
) -> None:
    app = App(make_settings(database_url), clock=clock)  # no admin configured
    try:
        offer_id = asz_offer(app)
        rita = person(app, "rita", locale)
        run_table(rita, [(f"[hr_bot:{offer_id}]", [TO_NOBODY[locale]])])
        assert requests(app)[0].status == HelpRequestStatus.OPEN
        assert count(app, OutboxMessage) == 0
    finally:
        app.close()


@pytest.mark.parametrize(
    ("locale", "coordinator_locale"), [("uk", "de"), ("fa", "en"), ("de", "uk")]
)
async def test_a_coordinator_is_told_who_would_help_and_how_to_reach_them(
    city: App, clock: FakeClock, locale: str, coordinator_locale: str
) -> None:
    carla = coordinator(city, locale=coordinator_locale)
    offer_id = asz_offer(city)
    person(city, "maria", locale)
    [ask] = press(city, "maria", f"hr_ask:{offer_id}", **MARIA)
    assert "Maria K." in ask.text and "@maria_k" in ask.text
    [answer] = press(city, "maria", f"hr_yes:{offer_id}", **MARIA)
    assert TO_COORDINATORS[locale] in answer.text
    [request] = requests(city)
    assert (request.shared_name, request.shared_contact) == ("Maria K.", "@maria_k")
    texts = await delivered(city, clock)
    assert "admin" not in texts, "the admins are not told when there is a coordinator"
    [notice] = texts["carla"]
    assert "Maria K." in notice and "@maria_k" in notice and "Console" in notice
    reader = city.translations.get(coordinator_locale)
    language = reader._("Their language: %(language)s.", language=_name(locale, reader.locale))
    assert language in notice
    assert "Kontakt: -" not in notice and "Contact: -" not in notice
    carla.press("hr_list")
    assert any("Maria K." in label for label in carla.labels)


def _name(code: str, reader: str) -> str:
    from babel import Locale

    return Locale.parse(code).get_display_name(reader)


@pytest.mark.parametrize("locale", ["de", "en", "uk", "ar"])
async def test_pressing_twice_keeps_one_open_request(
    city: App, clock: FakeClock, locale: str
) -> None:
    person(city, "admin", "en")
    offer_id = asz_offer(city)
    rita = person(city, "rita", locale)
    run_table(
        rita,
        [
            (f"[hr_bot:{offer_id}]", [TO_ADMINS[locale]]),
            (f"[hr_bot:{offer_id}]", [ALREADY[locale], WRITE[locale]]),
            (f"[hr_ask:{offer_id}]", [ALREADY[locale], WRITE[locale]]),
            (f"[hr_yes:{offer_id}]", [ALREADY[locale]]),
        ],
    )
    assert len(requests(city)) == 1
    assert count(city, OutboxMessage, OutboxMessage.kind == "help_request") == 1


@pytest.mark.parametrize(
    ("locale", "coordinator_locale"), [("uk", "de"), ("ar", "de"), ("en", "de")]
)
async def test_messages_go_back_and_forth_each_language_named(
    city: App, clock: FakeClock, locale: str, coordinator_locale: str
) -> None:
    carla = coordinator(city, locale=coordinator_locale)
    offer_id = asz_offer(city)
    person(city, "maria", locale)
    press(city, "maria", f"hr_yes:{offer_id}", **MARIA)
    maria = Dialog(city.conversation, user="maria")
    hr = request_id(city)
    run_table(
        maria,
        [
            (f"[hr_write:{hr}]", ["ASZ", "500"]),
            ("x" * 501, [TOO_LONG[locale]]),
            ("Ich habe dienstags Zeit. / I am free on Tuesdays.", [ON_ITS_WAY[locale]]),
        ],
    )
    texts = await delivered(city, clock)
    request_notice, message = texts["carla"]
    assert "Maria K." in request_notice
    assert f"Maria K. schreibt ({IN_GERMAN_READER[locale]})" in message
    assert "I am free on Tuesdays." in message
    run_table(
        carla,
        [
            (f"[hr_write:{hr}]", ["Maria K.", "auf Deutsch"]),
            ("Super, dann bis Dienstag um 10 Uhr!", ["unterwegs"]),
        ],
    )
    [answer] = (await delivered(city, clock))["maria"]
    assert WRITES_IN_GERMAN[locale] in answer and "bis Dienstag um 10 Uhr!" in answer
    # and back once more, from the notice's button
    run_table(maria, [(f"[hr_write:{hr}]", []), ("Danke!", [ON_ITS_WAY[locale]])])
    [again] = (await delivered(city, clock))["carla"]
    assert "Danke!" in again
    # Either side reads the conversation back, each line naming its writer's language.
    maria.press(f"hr_show:{hr}")
    assert "I am free on Tuesdays." in maria.text and "bis Dienstag um 10 Uhr!" in maria.text
    carla.press(f"hr_show:{hr}")
    assert "@maria_k" in carla.text and "Danke!" in carla.text
    assert f"Maria K. ({IN_GERMAN_READER[locale]})" in carla.text
    with session_scope(city.engine) as session:
        written = session.exec(select(HelpMessage).order_by(col(HelpMessage.id))).all()
        assert [(m.side, m.locale) for m in written] == [
            ("resident", locale),
            ("organisation", coordinator_locale),
            ("resident", locale),
        ]
    # The words live in one place: the outbox rows refer to them and carry none.
    with session_scope(city.engine) as session:
        for row in session.exec(select(OutboxMessage)).all():
            assert "text" not in row.payload


@pytest.mark.parametrize("locale", ["de", "uk", "ar"])
async def test_the_organisation_closes_and_the_resident_is_told(
    city: App, clock: FakeClock, locale: str
) -> None:
    carla = coordinator(city)
    offer_id = asz_offer(city)
    rita = person(city, "rita", locale)
    rita.press(f"hr_bot:{offer_id}")
    hr = request_id(city)
    carla.press(f"hr_close:{hr}")
    assert "is closed. I have told them." in carla.text
    [told] = (await delivered(city, clock))["rita"][-1:]
    assert CLOSED_BY_ORGANISATION[locale] in told
    run_table(rita, [(f"[hr_write:{hr}]", [NO_LONGER_OPEN[locale]])])
    # closed, so asking again opens a new request
    rita.press(f"hr_bot:{offer_id}")
    assert [r.status for r in requests(city)] == [HelpRequestStatus.CLOSED, HelpRequestStatus.OPEN]
    carla.press("numbers")
    assert "1 open request to help." in carla.text
    assert "1 request to help closed in the last 30 days." in carla.text


@pytest.mark.parametrize("locale", ["de", "en", "fa"])
async def test_the_resident_closes_and_the_coordinator_is_told(
    city: App, clock: FakeClock, locale: str
) -> None:
    carla = coordinator(city, locale="de")
    offer_id = asz_offer(city)
    maria = person(city, "maria", locale)
    press(city, "maria", f"hr_yes:{offer_id}", **MARIA)
    await delivered(city, clock)
    hr = request_id(city)
    run_table(maria, [(f"[hr_close:{hr}]", [YOUR_REQUEST_CLOSED[locale], "ASZ"])])
    [told] = (await delivered(city, clock))["carla"]
    assert "Maria K. hat die Anfrage zum Mithelfen bei" in told
    carla.press(f"hr_write:{hr}")
    assert "nicht mehr offen" in carla.text
    carla.press(f"hr_close:{hr}")
    assert "nicht mehr offen" in carla.text


@pytest.mark.parametrize("locale", ["de", "uk", "ar"])
async def test_erasing_a_person_with_an_open_request_takes_its_messages_along(
    city: App, clock: FakeClock, locale: str
) -> None:
    carla = coordinator(city)
    offer_id = asz_offer(city)
    maria = person(city, "maria", locale)
    press(city, "maria", f"hr_yes:{offer_id}", **MARIA)
    hr = request_id(city)
    maria.press(f"hr_write:{hr}")
    maria.say("Meine Nummer ist 0631 123456.")
    maria.say("/mydata")
    assert "@maria_k" in maria.text
    export = maria.last[0].attachments[0].content.decode()
    assert "0631 123456" in export and "Maria K." in export
    maria.say("/delete")
    maria.press("delete_yes")
    assert requests(city) == []
    assert count(city, HelpMessage) == 0
    texts = await delivered(city, clock)
    assert "carla" not in texts, "notices about an erased person are dropped, not sent"
    with session_scope(city.engine) as session:
        statuses = {row.status for row in session.exec(select(OutboxMessage)).all()}
        assert OutboxStatus.PENDING not in statuses
    carla.press(f"hr_write:{hr}")
    assert "no longer open" in carla.text


async def test_closed_requests_are_deleted_after_the_retention_open_ones_kept(
    city: App, clock: FakeClock
) -> None:
    person(city, "admin")
    offer_id = asz_offer(city)
    for name in ("rita", "sam"):
        resident = person(city, name)
        resident.press(f"hr_bot:{offer_id}")
        resident.press(f"hr_write:{requests(city)[-1].id}")
        resident.say("Hallo!")
    rita_request = requests(city)[0].id
    Dialog(city.conversation, user="rita").press(f"hr_close:{rita_request}")
    policy = RetentionPolicy.from_settings(city.settings)
    for days, left in ((29, 2), (31, 1)):
        with session_scope(city.engine) as session:
            delete_closed_help_requests(
                session, now=clock.now() + timedelta(days=days), policy=policy
            )
        assert len(requests(city)) == left
    assert [r.status for r in requests(city)] == [HelpRequestStatus.OPEN]
    assert count(city, HelpMessage) == 1


async def test_a_resident_cannot_read_or_answer_anothers_request(city: App) -> None:
    person(city, "admin")
    offer_id = asz_offer(city)
    person(city, "rita").press(f"hr_bot:{offer_id}")
    hr = request_id(city)
    mallory = person(city, "mallory")
    for forged in (f"hr_show:{hr}", f"hr_write:{hr}", f"hr_close:{hr}", "hr_list"):
        mallory.press(forged)
        assert "only for coordinators" in mallory.text, forged
    assert requests(city)[0].status == HelpRequestStatus.OPEN


async def test_a_request_after_retention_deleted_the_last_one_is_told_again(
    city: App, clock: FakeClock
) -> None:
    person(city, "admin")
    offer_id = asz_offer(city)
    rita = person(city, "rita")
    rita.press(f"hr_bot:{offer_id}")
    first = request_id(city)
    assert len((await delivered(city, clock))["admin"]) == 1
    rita.press(f"hr_close:{first}")
    [closed] = (await delivered(city, clock))["admin"]
    assert "has closed their request" in closed
    clock.advance(timedelta(days=31))
    with session_scope(city.engine) as session:
        delete_closed_help_requests(
            session, now=clock.now(), policy=RetentionPolicy.from_settings(city.settings)
        )
    assert requests(city) == []
    # SQLite may hand out the deleted request's id again; the admin must hear of it anyway.
    rita.press(f"hr_bot:{offer_id}")
    [notice] = (await delivered(city, clock))["admin"]
    assert "New request to help" in notice
