"""Dialog tests for coordinators and admins: invitations, publishing, editing, cancelling,
announcements, requests to help, numbers, and everything a resident must not be able to do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

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


@pytest.fixture
def city(db_path: Path, clock: FakeClock) -> Iterator[App]:
    """The demo city with one admin configured (console:admin)."""
    application = App(make_settings(db_path, admin_ids="console:admin"), clock=clock)
    yield application
    application.close()


def person(app: App, name: str, locale: str = "en") -> Dialog:
    dialog = Dialog(app.conversation, user=name)
    dialog.onboard(locale)
    return dialog


def coordinator(app: App, name: str = "carla", organisation: str = "ASZ") -> Dialog:
    admin = person(app, "admin")
    admin.say("/coordinator")
    admin.tap("Invite a coordinator")
    admin.tap(organisation)
    code = admin.text.split("/join ")[1].split()[0]
    dialog = person(app, name)
    dialog.say(f"/join {code}")
    assert "You are now a coordinator" in dialog.text
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
    assert "Saved." in carla.text
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
            ("1", ["in German"]),
            (
                "Liebe Leute, <i>morgen</i> ist Treffen!",
                ["Preview:", "It will reach 5 people.", "Send now"],
            ),
            ("@English", ["in English"]),
            ("Dear all, meeting tomorrow!", ["Languages: Deutsch and English"]),
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
    rita.tap("I'd like to help")
    assert "your name and your messenger contact" in rita.text
    city.conversation.handle(
        Incoming(
            "console", "rita", action=f"hr_yes:{offer_id}", display_name="Rita K.", handle="@rita"
        )
    )
    with session_scope(city.engine) as session:
        request = session.exec(select(HelpRequest)).one()
        assert (request.shared_name, request.shared_contact) == ("Rita K.", "@rita")
    transport, worker = recording_worker(city, clock)
    await worker.deliver_due()
    [notice] = transport.texts_for("carla")
    assert "Rita K. would like to help" in notice and "@rita" in notice
    carla.press(f"hr_reply:{request.id}")
    carla.say("Danke! Komm am Dienstag vorbei.")
    assert "on its way" in carla.text
    await worker.deliver_due()
    [answer] = transport.texts_for("rita")
    assert "An answer from" in answer and "Komm am Dienstag vorbei." in answer
    with session_scope(city.engine) as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "help_reply")).one()
        assert "text" not in row.payload, "the coordinator's words are not kept once delivered"


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
