"""Dialog tables: an announcement goes out in the name the sender picks, shown in the preview."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.clock import FakeClock
from db.engine import session_scope
from db.models import Broadcast, ConversationState, Organisation, OutboxMessage, User
from db.roles import grant
from tests.conftest import make_settings
from tests.dialog import Dialog, run_table
from tests.test_coordinator import count, recording_worker

OPERATOR = "Engagierte Stadt (demo operator)"
SPRACHCAFE = "Sprachcafé Lautern"
WHOSE = {
    "de": "In wessen Namen soll die Ankündigung verschickt werden?",
    "uk": "Від чийого імені надіслати оголошення?",
    "ar": "باسم مَن يجب إرسال الإعلان؟",
}
HEADING = {"de": "📣 Ankündigung von", "uk": "📣 Оголошення (", "ar": "📣 إعلان من"}


@pytest.fixture
def city(db_path: Path, clock: FakeClock) -> Iterator[App]:
    application = App(
        make_settings(db_path, admin_ids="console:admin", operator_name=OPERATOR), clock=clock
    )
    yield application
    application.close()


def make_coordinator(app: App, name: str, slugs: list[str], clock: FakeClock) -> None:
    with session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.external_id == name)).one()
        for slug in slugs:
            organisation = session.exec(select(Organisation).where(Organisation.slug == slug)).one()
            grant(
                session,
                user=user,
                role="coordinator",
                organisation_id=organisation.id,
                now=clock.now(),
            )


def last_broadcast(app: App) -> Broadcast:
    with session_scope(app.engine) as session:
        broadcast = session.exec(select(Broadcast).order_by(col(Broadcast.id).desc())).first()
        assert broadcast is not None
        session.expunge(broadcast)
        return broadcast


def organisation_id(app: App, slug: str) -> int:
    with session_scope(app.engine) as session:
        found = session.exec(select(Organisation).where(Organisation.slug == slug)).one()
        return found.id or 0


@pytest.mark.parametrize("locale", ["de", "uk", "ar"])
async def test_a_coordinator_of_two_organisations_picks_the_sender(
    city: App, clock: FakeClock, locale: str
) -> None:
    reader = Dialog(city.conversation, user="reader")
    reader.onboard(locale)
    carla = Dialog(city.conversation, user="carla")
    carla.onboard(locale)
    make_coordinator(city, "carla", ["asz", "sprachcafe-lautern"], clock)
    run_table(
        carla,
        [
            ("[bc_new]", []),
            ("[bc_aud:all:0]", [WHOSE[locale], "(ASZ)", SPRACHCAFE]),
        ],
    )
    assert len(carla.labels) == 3 and OPERATOR not in carla.labels  # two and ✖ Stop
    run_table(
        carla,
        [
            (f"@{SPRACHCAFE}", []),
            ("Hallo zusammen!", [HEADING[locale], SPRACHCAFE, "Hallo zusammen!"]),
        ],
    )
    carla.press("bc_send:now")
    assert last_broadcast(city).organisation_id == organisation_id(city, "sprachcafe-lautern")
    transport, worker = recording_worker(city, clock)
    await worker.deliver_due()
    heading = transport.texts_for("reader")[-1]
    assert HEADING[locale] in heading and SPRACHCAFE in heading and "ASZ" not in heading


@pytest.mark.parametrize("locale", ["de", "uk", "ar"])
def test_an_admin_sends_in_the_operators_name_or_any_organisations(city: App, locale: str) -> None:
    Dialog(city.conversation, user="reader").onboard(locale)
    admin = Dialog(city.conversation, user="admin")
    admin.onboard(locale)
    admin.press("bc_new")
    admin.press("bc_aud:all:0")
    assert WHOSE[locale] in admin.text
    assert OPERATOR in admin.labels[0] and len(admin.labels) == 1 + 7 + 1  # and ✖ Stop
    run_table(admin, [(f"@{OPERATOR}", []), ("Hallo!", [HEADING[locale], OPERATOR])])
    admin.press("bc_send:now")
    assert last_broadcast(city).organisation_id is None
    admin.press("bc_new")
    admin.press("bc_aud:all:0")
    admin.tap("Digital-Lotsen")
    admin.say("Hallo!")
    assert "Digital-Lotsen" in admin.text and OPERATOR not in admin.text
    admin.press("bc_send:now")
    assert last_broadcast(city).organisation_id == organisation_id(city, "digital-lotsen")


def test_one_organisation_is_not_asked(city: App, clock: FakeClock) -> None:
    Dialog(city.conversation, user="reader").onboard("de")
    olga = Dialog(city.conversation, user="olga")
    olga.onboard("uk")
    make_coordinator(city, "olga", ["sprachcafe-lautern"], clock)
    run_table(
        olga,
        [
            ("[bc_new]", []),
            ("[bc_aud:all:0]", ["мовою: українська"]),
            ("Привіт!", [HEADING["uk"], SPRACHCAFE]),
        ],
    )
    olga.press("bc_send:now")
    assert last_broadcast(city).organisation_id == organisation_id(city, "sprachcafe-lautern")


def test_a_forged_sender_is_refused(city: App, clock: FakeClock) -> None:
    Dialog(city.conversation, user="reader").onboard("ar")
    carla = Dialog(city.conversation, user="carla")
    carla.onboard("ar")
    make_coordinator(city, "carla", ["asz", "sprachcafe-lautern"], clock)
    carla.press("bc_new")
    carla.press("bc_aud:all:0")
    for forged in (0, organisation_id(city, "digital-lotsen")):
        carla.press(f"bc_from:{forged}")
        with session_scope(city.engine) as session:
            user = session.exec(select(User).where(User.external_id == "carla")).one()
            state = session.exec(
                select(ConversationState).where(ConversationState.user_id == user.id)
            ).one()
            assert state.step == "sender" and "sender" not in state.data["flow"]
    carla.press(f"bc_from:{organisation_id(city, 'asz')}")
    carla.say("Hallo!")
    carla.press("bc_send:now")
    assert count(city, Broadcast) == 1
    assert last_broadcast(city).organisation_id == organisation_id(city, "asz")
    assert count(city, OutboxMessage, OutboxMessage.kind == "broadcast") == 2  # reader, carla


CHANGE = {"de": "Absender ändern", "uk": "Змінити відправника", "ar": "تغيير المُرسِل"}


@pytest.mark.parametrize("locale", ["de", "uk", "ar"])
def test_the_sender_can_be_changed_from_the_preview(
    city: App, clock: FakeClock, locale: str
) -> None:
    Dialog(city.conversation, user="reader").onboard(locale)
    carla = Dialog(city.conversation, user="carla")
    carla.onboard(locale)
    make_coordinator(city, "carla", ["asz", "sprachcafe-lautern"], clock)
    run_table(
        carla,
        [
            ("[bc_new]", []),
            ("[bc_aud:all:0]", [WHOSE[locale]]),
            ("@(ASZ)", []),
            ("Hallo zusammen!", [HEADING[locale], "(ASZ)", CHANGE[locale]]),
            (f"@{CHANGE[locale]}", [WHOSE[locale], SPRACHCAFE]),
            (f"@{SPRACHCAFE}", [HEADING[locale], SPRACHCAFE, "Hallo zusammen!"]),
        ],
    )
    assert "(ASZ)" not in carla.text
    carla.press("bc_send:now")
    assert last_broadcast(city).organisation_id == organisation_id(city, "sprachcafe-lautern")


def test_someone_with_one_organisation_sees_no_change_button(city: App, clock: FakeClock) -> None:
    Dialog(city.conversation, user="reader").onboard("de")
    olga = Dialog(city.conversation, user="olga")
    olga.onboard("de")
    make_coordinator(city, "olga", ["asz"], clock)
    olga.press("bc_new")
    olga.press("bc_aud:all:0")
    olga.say("Hallo!")
    assert "Vorschau:" in olga.text and not [x for x in olga.labels if CHANGE["de"] in x]
    olga.press("bc_sender")  # a forged press changes nothing but the screen
    olga.press("bc_from:" + str(organisation_id(city, "digital-lotsen")))
    olga.press("bc_send:now")
    assert last_broadcast(city).organisation_id == organisation_id(city, "asz")
