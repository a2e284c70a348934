"""Dialog tests for coordinators and admins: invitations, publishing, editing, cancelling,
announcements, requests to help, numbers, and everything a resident must not be able to do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import func, select

from bot.app import App
from bot.clock import FakeClock
from bot.delivery import DeliveryWorker
from bot.messages import Incoming
from bot.scheduler import Jobs
from db.engine import session_scope
from db.models import (
    AuditEntry,
    Event,
    HelpRequest,
    Invitation,
    ItemStatus,
    Offer,
    OutboxMessage,
    Role,
)
from tests.conftest import make_settings
from tests.dialog import Dialog, run_table
from tests.fakes import NoWaitPacer, RecordingTransport

pytestmark = pytest.mark.both_databases


@pytest.fixture
def city(database_url: str, clock: FakeClock) -> Iterator[App]:
    """The demo city with one admin configured (console:admin)."""
    application = App(make_settings(database_url, admin_ids="console:admin"), clock=clock)
    yield application
    application.close()


def person(app: App, name: str, locale: str = "en") -> Dialog:
    dialog = Dialog(app.conversation, user=name)
    dialog.onboard(locale)
    return dialog


def coordinator(
    app: App, name: str = "carla", organisation: str = "ASZ", locale: str = "en"
) -> Dialog:
    admin = person(app, "admin")
    admin.say("/coordinator")
    admin.tap("Invite a coordinator")
    admin.tap(organisation)
    code = admin.text.split("/join ")[1].split()[0]
    dialog = person(app, name, locale)
    roles = count(app, Role)
    dialog.say(f"/join {code}")
    assert count(app, Role) == roles + 1, dialog.text
    assert locale != "en" or "You are now a coordinator" in dialog.text
    return dialog


def recording_worker(app: App, clock: FakeClock) -> tuple[RecordingTransport, DeliveryWorker]:
    """A delivery worker that records what it sends instead of sending it."""
    transport = RecordingTransport()
    worker = DeliveryWorker(
        conversation=app.conversation,
        transport=transport,
        clock=clock,
        rate=1000,
        max_attempts=3,
        pacer=NoWaitPacer(),
    )
    return transport, worker


def count(app: App, model, *conditions) -> int:
    with session_scope(app.engine) as session:
        return session.exec(select(func.count()).select_from(model).where(*conditions)).one()


def test_invitations_are_one_time_and_expire(city: App, clock: FakeClock) -> None:
    carla = coordinator(city)
    assert any("Coordinator tools" in label for label in carla.labels)
    with session_scope(city.engine) as session:
        code = session.exec(select(Invitation)).one().code
    other = person(city, "other")
    other.say(f"/join {code}")
    assert "already been used" in other.text
    admin = Dialog(city.conversation, user="admin")
    admin.press("inv_org:1")
    fresh = admin.text.split("/join ")[1].split()[0]
    clock.advance(timedelta(days=8))
    other.say(f"/join {fresh}")
    assert "expired" in other.text
    other.say("/join NOPE1234")
    assert "do not know this invitation code" in other.text
    assert count(city, Role) == 1


def test_a_resident_cannot_use_coordinator_actions(city: App) -> None:
    resident = person(city, "rita")
    before = (count(city, Event), count(city, AuditEntry), count(city, OutboxMessage))
    for attempt in (
        "/coordinator",
        "[pub_new:event]",
        "[pub_ok]",
        "[item:e:1]",
        "[cancel_do:1]",
        "[edit:e:1:title]",
        "[edit:e:1:capacity]",
        "[edit_pick:1]",
        "[edit_clear]",
        "[pub_back]",
        "[pub_keep]",
        "[pub_fixes]",
        "[pub_fix:title]",
        "[archive:1]",
        "[bc_new]",
        "[bc_send:now]",
        "[hr_list]",
        "[hr_reply:1]",
        "[inv_new]",
        "[inv_org:1]",
        "[numbers]",
        "[mine:0]",
    ):
        if attempt.startswith("["):
            resident.press(attempt[1:-1])
        else:
            resident.say(attempt)
        assert "only for coordinators" in resident.text or "no longer works" in resident.text, (
            attempt,
            resident.text,
        )
    with session_scope(city.engine) as session:
        assert session.get(Event, 1).status == ItemStatus.PUBLISHED
    assert (count(city, Event), count(city, AuditEntry), count(city, OutboxMessage)) == before


def test_publishing_an_event_step_by_step(city: App) -> None:
    carla = coordinator(city)
    run_table(
        carla,
        [
            ("/coordinator", ["Coordinator tools for: ", "New event"]),
            ("@New event", ["Which topic fits best?"]),
            ("1", ["What is the title?"]),
            ("Nachbarschafts-<b>Fest</b> *2027*", ["In one sentence"]),
            ("Wir grillen und lernen uns kennen.", ["Anything else"]),
            ("@Skip", ["In which district?"]),
            ("@Innenstadt-West", ["Where does it take place?"]),
            ("Stadtteilwerkstatt", ["What is the address?"]),
            ("Pfaffstraße 3, 67655 Kaiserslautern", ["When does it start?"]),
            ("bald", ["could not read that date"], 2),
            ("01.01.2020 10:00", ["in the past"], 2),
            ("morgen 17 Uhr", ["How many hours"]),
            ("zwei", ["length in hours"], 2),
            ("2", ["How many places"]),
            ("20", ["Nachbarschafts-<b>Fest</b> *2027*", "5:00", "Publish it now?"], 2),
            ("@Publish", ["Published: Nachbarschafts-<b>Fest</b> *2027*"]),
        ],
    )
    resident = person(city, "rita")
    resident.say("/events")
    assert any("Nachbarschafts-<b>Fest</b>" in label for label in resident.labels)
    with session_scope(city.engine) as session:
        event = session.exec(select(Event).where(Event.title.startswith("Nachbar"))).one()
        assert event.capacity == 20 and event.ends_at - event.starts_at == timedelta(hours=2)
    assert count(city, AuditEntry, AuditEntry.action == "event_published") == 1


def test_publishing_an_offer_and_stopping_half_way(city: App) -> None:
    carla = coordinator(city)
    carla.press("pub_new:offer")
    carla.say("2")
    carla.say("Leseclub")
    carla.say("x" * 600)
    assert "too long" in carla.text and "In one sentence" in carla.text
    carla.say("x" * 60_000)
    assert "too long for me" in carla.text and "send /menu to stop" in carla.text
    carla.say("Wir lesen vor.")
    assert "Anything else" in carla.text
    carla.tap("Stop")
    assert "Nothing was published." in carla.text
    assert count(city, Offer, Offer.title == "Leseclub") == 0


def test_coordinators_only_touch_their_own_organisation(city: App) -> None:
    carla = coordinator(city, organisation="ASZ")  # event 1 is the ASZ's, event 2 is not
    with session_scope(city.engine) as session:
        other = session.exec(select(Event).where(Event.organisation_id != 1)).first()
        other_id = other.id
    for forged in (f"item:e:{other_id}", f"cancel_do:{other_id}", f"edit:e:{other_id}:title"):
        carla.press(forged)
        assert "only for coordinators" in carla.text
    with session_scope(city.engine) as session:
        assert session.get(Event, other_id).status == ItemStatus.PUBLISHED


def test_moving_and_cancelling_an_event_tells_people_going(city: App) -> None:
    carla = coordinator(city)
    goers = [person(city, f"g{i}", locale) for i, locale in enumerate(["en", "uk", "ar"])]
    for goer in goers:
        goer.press("go:1")
    carla.press("item:e:1")
    assert "3 people are going." in carla.text
    carla.tap("Time")
    carla.say("12.12. 19:00")
    assert "Saved. New start: Saturday, December 12, 7:00" in carla.text
    assert "3 people going were told." in carla.text
    assert count(city, OutboxMessage, OutboxMessage.kind == "event_changed") == 3
    carla.tap("Cancel the event")
    assert "3 people going will be told" in carla.text
    carla.tap("Yes, cancel it")
    assert "3 people will be told" in carla.text
    assert count(city, OutboxMessage, OutboxMessage.kind == "event_cancelled") == 3


async def test_an_announcement_reaches_each_follower_in_their_language(
    city: App, clock: FakeClock
) -> None:
    carla = coordinator(city)
    followers = {f"f{i}": locale for i, locale in enumerate(["de", "en", "uk", "ar", "tr"])}
    for name, locale in followers.items():
        person(city, name, locale).press("fol:c:1")
    run_table(
        carla,
        [
            ("[bc_new]", ["Who should receive"]),
            ("@Followers of a topic", ["Choose one:"]),
            ("1", ["in English"]),
            ("Dear all, meeting tomorrow!", ["Preview:", "It will reach 5 people.", "Send now"]),
            ("@Deutsch", ["in Deutsch"]),
            ("Liebe Leute, <i>morgen</i> ist Treffen!", ["Languages: English and Deutsch"]),
            ("@Send now", ["on its way to 5 people"]),
        ],
    )
    transport, worker = recording_worker(city, clock)
    jobs = Jobs(
        conversation=city.conversation, settings=city.settings, clock=clock, workers=[worker]
    )
    await worker.deliver_due()
    texts = {key: replies[0].text for key, replies in transport.sent}
    assert set(followers) <= set(texts)
    assert "Dear all" in texts["f1"]
    assert "Liebe Leute, <i>morgen</i> ist Treffen!" in texts["f0"]
    assert "Liebe Leute" in texts["f2"] and "Liebe Leute" in texts["f3"]
    assert texts["f3"].startswith("\u200f")
    jobs.queue_due()
    await worker.deliver_due()
    report = transport.texts_for("carla")[-1]
    assert "5 delivered, 0 blocked the bot, 0 failed" in report
    assert count(city, AuditEntry, AuditEntry.action == "broadcast_queued") == 1


def test_an_announcement_to_nobody_is_not_sent(city: App) -> None:
    carla = coordinator(city)
    carla.press("bc_new")
    carla.press("bc_aud:d:3")
    carla.say("Hallo")
    assert "No one would receive this announcement" in carla.text
    assert count(city, OutboxMessage, OutboxMessage.kind == "broadcast") == 0


async def test_i_would_like_to_help_reaches_the_coordinator_and_back(
    city: App, clock: FakeClock
) -> None:
    carla = coordinator(city)
    with session_scope(city.engine) as session:
        offer = session.exec(select(Offer).where(Offer.organisation_id == 1)).first()
        offer_id = offer.id
    rita = Dialog(city.conversation, user="rita")
    rita.onboard("en")
    rita.press(f"o:{offer_id}")
    profile = {"display_name": "Rita K.", "handle": "@rita"}
    [ask] = city.conversation.handle(
        Incoming("console", "rita", action=f"hr_ask:{offer_id}", **profile)
    )
    assert "your name and your Console contact (Rita K. and @rita)" in ask.text
    city.conversation.handle(Incoming("console", "rita", action=f"hr_yes:{offer_id}", **profile))
    with session_scope(city.engine) as session:
        request = session.exec(select(HelpRequest)).one()
        assert (request.shared_name, request.shared_contact) == ("Rita K.", "@rita")
    transport, worker = recording_worker(city, clock)
    await worker.deliver_due()
    [notice] = transport.texts_for("carla")
    assert "Rita K. would like to help" in notice and "@rita on Console" in notice
    assert "Their language: English." in notice
    carla.press(f"hr_write:{request.id}")
    carla.say("Danke! Komm am Dienstag vorbei.")
    assert "on its way" in carla.text
    await worker.deliver_due()
    [answer] = transport.texts_for("rita")
    assert "writes (in English)" in answer and "Komm am Dienstag vorbei." in answer


def test_numbers_are_aggregates_only(city: App) -> None:
    carla = coordinator(city)
    for i in range(3):
        person(city, f"n{i}").press("fol:g:1")
    carla.press("numbers")
    assert "3 followers" in carla.text
    assert "n0" not in carla.text and "n1" not in carla.text


def test_a_coordinator_gets_a_poster_of_their_event(city: App) -> None:
    from io import BytesIO

    from PIL import Image

    carla = coordinator(city)
    carla.press("item:e:1")
    carla.tap("Poster with QR code")
    [attachment] = carla.last[0].attachments
    assert attachment.mime_type == "image/png"
    assert Image.open(BytesIO(attachment.content)).size == (1240, 1754)
    resident = person(city, "rita")
    resident.press("poster:e:1")
    assert "only for coordinators" in resident.text


RE_ASK = {
    "de": ("Bitte wähle einen der Buttons.", "Für welche Organisation?"),
    "uk": ("Будь ласка, натисніть одну з кнопок.", "Для якої організації?"),
    "ar": ("يُرجى اختيار أحد الأزرار.", "لأي منظمة؟"),
}


@pytest.mark.parametrize("locale", sorted(RE_ASK))
def test_typing_at_a_button_step_asks_again_and_keeps_the_draft(city: App, locale: str) -> None:
    again, which = RE_ASK[locale]
    boss = person(city, "admin", locale)
    run_table(
        boss,
        [
            ("[pub_new:event]", [which]),
            ("ASZ bitte", [again, which], 2),
            ("[pub_org:1]", []),
            ("[pub_pick:category:1]", []),
            ("Sommerfest im Hof", []),
            ("Wir feiern zusammen.", []),
            ("[pub_skip]", []),
            ("Irgendwo", [again], 2),
            ("[pub_pick:district:0]", []),
            ("[pub_skip]", []),
            ("[pub_skip]", []),
            ("morgen 17 Uhr", []),
            ("[pub_skip]", []),
            ("[pub_skip]", ["Sommerfest im Hof", "✅"], 2),
            ("Ja, veröffentlichen", [again, "Sommerfest im Hof", "✅"], 3),
            ("[pub_ok]", ["Sommerfest im Hof"]),
        ],
    )
    assert count(city, Event, Event.title == "Sommerfest im Hof") == 1
    assert count(city, Event, Event.status == ItemStatus.DRAFT) == 0


SAVED = {
    "de": ("Neuer Beginn", "19:00", "3 Personen, die kommen, wurden benachrichtigt.", "Nichts"),
    "uk": ("Новий початок", "19:00", "Кількість повідомлених учасників: 3.", "Нічого не"),
    "ar": ("موعد البدء الجديد", "7:00 م", "من المشاركين: \u20683\u2069.", "لم يتغير شيء"),
}


@pytest.mark.parametrize("locale", sorted(SAVED))
def test_an_edit_tells_people_going_once_and_only_on_a_real_change(city: App, locale: str) -> None:
    new_start, hour, told, unchanged = SAVED[locale]
    carla = coordinator(city, locale=locale)
    for i in range(3):
        person(city, f"g{i}").press("go:1")
    with session_scope(city.engine) as session:
        place = session.get(Event, 1).place_name
    run_table(
        carla,
        [
            ("[edit:e:1:when]", []),
            ("12.12. 19:00", [new_start, hour, told], 2),
            ("[edit:e:1:when]", []),
            ("12.12. 19:00", [unchanged, hour], 2),
            ("[edit:e:1:place]", []),
            (place, [unchanged], 2),
        ],
    )
    assert count(city, OutboxMessage, OutboxMessage.kind == "event_changed") == 3


SHORT = {
    "de": ("Das ist zu kurz. Bitte mindestens 3 Zeichen.", "Das ist zu lang."),
    "uk": ("Це закоротко. Мінімальна кількість символів: 3.", "Це задовго."),
    "ar": ("هذا قصير جدًا.", "هذا طويل جدًا."),
}


@pytest.mark.parametrize("locale", sorted(SHORT))
def test_titles_too_short_or_too_long_are_asked_again(city: App, locale: str) -> None:
    short, long = SHORT[locale]
    carla = coordinator(city, locale=locale)
    carla.press("pub_new:offer")
    carla.press("pub_pick:category:1")
    question = carla.text
    run_table(
        carla,
        [
            ("A", [short, question], 2),
            ("x" * 201, [long, question], 2),
            ("Leseclub", []),
            ("[edit:e:1:title]", [question]),
            ("B", [short, question], 2),
        ],
    )
    with session_scope(city.engine) as session:
        assert session.get(Event, 1).title != "B"
    assert count(city, Offer, Offer.title == "A") == 0


GONE = {
    "de": "Dieser Entwurf wurde gelöscht",
    "uk": "Цю чернетку видалено",
    "ar": "حُذفت هذه المسودة",
}


@pytest.mark.parametrize("locale", sorted(GONE))
def test_a_draft_left_for_a_day_is_deleted_at_night_and_the_flow_says_so(
    city: App, clock: FakeClock, locale: str
) -> None:
    carla = coordinator(city, locale=locale)
    carla.press("pub_new:offer")
    carla.press("pub_pick:category:1")
    carla.say("Leseclub")
    carla.say("Wir lesen vor.")
    carla.press("pub_skip")  # the description
    carla.press("pub_pick:district:0")
    for _ in range(4):  # place, address, schedule, contact
        carla.press("pub_skip")
    assert len(carla.last) == 2 and "Leseclub" in carla.text
    published = count(city, Offer, Offer.status == ItemStatus.PUBLISHED)
    jobs = Jobs(conversation=city.conversation, settings=city.settings, clock=clock)
    clock.advance(timedelta(hours=23))
    assert jobs.retention()["drafts"] == 0
    assert count(city, Offer, Offer.status == ItemStatus.DRAFT) == 1
    clock.advance(timedelta(hours=2))
    assert jobs.retention()["drafts"] == 1
    assert count(city, Offer, Offer.status == ItemStatus.DRAFT) == 0
    assert count(city, Offer, Offer.status == ItemStatus.PUBLISHED) == published
    # Picked up again by typing at the preview, or by pressing its button.
    if locale == "ar":
        carla.say("بسرعة")
    else:
        carla.press("pub_ok")
    assert len(carla.last) == 1 and GONE[locale] in carla.text
    assert count(city, Offer, Offer.title == "Leseclub") == 0


def test_a_time_typed_for_an_all_day_event_makes_it_an_event_at_that_time(city: App) -> None:
    with session_scope(city.engine) as session:
        event = session.get(Event, 1)
        assert event is not None
        event.all_day = True
    carla = coordinator(city)
    carla.press("item:e:1")
    carla.tap("Time")
    carla.say("12.12. 19:00")
    assert "Saved." in carla.text
    with session_scope(city.engine) as session:
        event = session.get(Event, 1)
        assert event is not None and not event.all_day
        assert event.starts_at.astimezone(city.settings.tz).hour == 19
