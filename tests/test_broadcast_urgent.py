"""Dialog tables: an admin may send an announcement as urgent (Telegram's paid broadcasts), with
its cost in Telegram Stars in the preview; nobody else may, and not while the setting is off."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.clock import FakeClock
from db.engine import session_scope
from db.models import Broadcast, OutboxMessage
from db.outbox import BULK_LANE, URGENT_LANE
from tests.conftest import make_settings
from tests.dialog import Dialog, run_table
from tests.test_broadcast_sender import last_broadcast, make_coordinator
from tests.test_coordinator import count

BUTTON = {
    "de": "⚡ Jetzt dringend senden",
    "en": "⚡ Send now as urgent",
    "ar": "⚡ الإرسال الآن كإعلان عاجل",
}
# Three people on Telegram: 0.1 Stars each (Bot API, sendMessage, allow_paid_broadcast), in the
# reader's number format; and the pace, TELEGRAM_PAID_RATE.
COST = {
    "de": ["höchstens 0,3 Telegram Stars für 3 Nachrichten", "bis zu 1.000 Nachrichten"],
    "en": ["at most 0.3 Telegram Stars for 3 messages", "up to 1,000 messages a second"],
    "ar": ["0.3", "Telegram Stars", "رسائل على تيليغرام", "1,000"],
}
URGENT_WORD = {"de": "Dringend", "en": "Urgent", "ar": "عاجل"}
REFUSAL = {
    "de": "Nur Admins können eine Ankündigung als dringend verschicken",
    "en": "Only admins can send an announcement as urgent",
    "ar": "يمكن للمشرفين فقط إرسال إعلان على أنه عاجل",
}
ON_ITS_WAY = {"de": "Die Ankündigung geht an", "en": "on its way", "ar": "جارٍ إرسال الإعلان"}
PREVIEW = {"de": "Vorschau:", "en": "Preview:", "ar": "معاينة:"}
LOCALES = ["de", "en", "ar"]


@pytest.fixture
def make_city(db_path: Path, clock: FakeClock) -> Iterator[Callable[..., App]]:
    made: list[App] = []

    def make(**settings: object) -> App:
        app = App(make_settings(db_path, admin_ids="console:admin", **settings), clock=clock)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


def readers(app: App, locale: str) -> None:
    """Three people on Telegram and one on the console, all agreed."""
    for n in range(3):
        Dialog(app.conversation, user=str(9000 + n), transport="telegram").onboard(locale)
    Dialog(app.conversation, user="reader").onboard(locale)


def drafted(app: App, user: str, locale: str) -> Dialog:
    person = Dialog(app.conversation, user=user)
    person.onboard(locale)
    return person


def urgent_buttons(dialog: Dialog) -> list[str]:
    return [label for label in dialog.labels if "⚡" in label]


def lanes(app: App) -> dict[str, int]:
    with session_scope(app.engine) as session:
        rows = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "broadcast")
            .order_by(col(OutboxMessage.id))
        ).all()
        return {row.transport + ":" + str(row.user_id): row.lane for row in rows}


@pytest.mark.parametrize("locale", LOCALES)
def test_an_admin_sees_the_cost_and_sends_as_urgent(make_city, locale: str) -> None:
    city = make_city(telegram_paid_broadcasts=True)
    readers(city, locale)
    admin = drafted(city, "admin", locale)
    run_table(
        admin,
        [
            ("[bc_new]", []),
            ("[bc_aud:all:0]", []),
            ("[bc_from:0]", []),
            ("Hallo!", [PREVIEW[locale], URGENT_WORD[locale], *COST[locale]]),
        ],
    )
    assert len(urgent_buttons(admin)) == 1 and BUTTON[locale] in urgent_buttons(admin)[0]
    run_table(admin, [(f"@{BUTTON[locale]}", [ON_ITS_WAY[locale]])])
    broadcast = last_broadcast(city)
    assert broadcast.urgent and broadcast.recipients == 5  # three on Telegram, reader, admin
    by_transport = sorted(lanes(city).items())
    assert [lane for key, lane in by_transport if key.startswith("telegram")] == [URGENT_LANE] * 3
    assert [lane for key, lane in by_transport if key.startswith("console")] == [BULK_LANE] * 2


@pytest.mark.parametrize("locale", LOCALES)
def test_a_coordinator_is_not_offered_urgent_and_a_forged_press_is_refused(
    make_city, clock: FakeClock, locale: str
) -> None:
    city = make_city(telegram_paid_broadcasts=True)
    readers(city, locale)
    carla = drafted(city, "carla", locale)
    make_coordinator(city, "carla", ["asz"], clock)
    run_table(carla, [("[bc_new]", []), ("[bc_aud:all:0]", []), ("Hallo!", [PREVIEW[locale]])])
    assert not urgent_buttons(carla) and URGENT_WORD[locale] not in carla.text
    # An old button or a forged action: refused in her language, the draft shown again.
    run_table(carla, [("[bc_send:urgent]", [REFUSAL[locale], PREVIEW[locale], "Hallo!"], 2)])
    assert count(city, Broadcast) == 0 and count(city, OutboxMessage) == 0
    run_table(carla, [("[bc_send:now]", [ON_ITS_WAY[locale]])])
    assert not last_broadcast(city).urgent
    assert set(lanes(city).values()) == {BULK_LANE}


@pytest.mark.parametrize("locale", LOCALES)
def test_with_paid_broadcasts_off_even_an_admin_is_not_offered_urgent(
    make_city, locale: str
) -> None:
    city = make_city()  # TELEGRAM_PAID_BROADCASTS defaults to false
    readers(city, locale)
    admin = drafted(city, "admin", locale)
    run_table(
        admin,
        [("[bc_new]", []), ("[bc_aud:all:0]", []), ("[bc_from:0]", []), ("Hallo!", [])],
    )
    assert not urgent_buttons(admin) and URGENT_WORD[locale] not in admin.text
    run_table(admin, [("[bc_send:urgent]", [REFUSAL[locale], PREVIEW[locale]], 2)])
    assert count(city, Broadcast) == 0


def test_urgent_is_not_offered_without_telegram_recipients_nor_for_later(make_city) -> None:
    city = make_city(telegram_paid_broadcasts=True)
    Dialog(city.conversation, user="reader").onboard("en")
    admin = drafted(city, "admin", "en")
    run_table(admin, [("[bc_new]", []), ("[bc_aud:all:0]", []), ("[bc_from:0]", [])])
    run_table(admin, [("Hello!", [PREVIEW["en"]])])
    assert not urgent_buttons(admin)  # everyone is on the console: nothing to pay for
    run_table(admin, [("[bc_send:urgent]", [REFUSAL["en"]], 2)])
    assert count(city, Broadcast) == 0

    Dialog(city.conversation, user="9100", transport="telegram").onboard("en")
    run_table(admin, [("[bc_stop]", []), ("[bc_new]", []), ("[bc_aud:all:0]", [])])
    run_table(admin, [("[bc_from:0]", []), ("Hello!", ["0.1 Telegram Stars for 1 message"])])
    # Sending later: the choice of urgent is for sending now only.
    run_table(admin, [("[bc_send:later]", []), ("12.12. 18:00", [PREVIEW["en"]])])
    assert not urgent_buttons(admin) and "Urgent" not in admin.text
    run_table(admin, [("[bc_send:urgent]", [REFUSAL["en"]], 2)])
    assert count(city, Broadcast) == 0


def test_changing_the_sender_keeps_the_urgent_choice_on_offer(make_city) -> None:
    city = make_city(telegram_paid_broadcasts=True)
    readers(city, "de")
    admin = drafted(city, "admin", "de")
    run_table(admin, [("[bc_new]", []), ("[bc_aud:all:0]", []), ("[bc_from:0]", [])])
    run_table(admin, [("Hallo!", [COST["de"][0]]), ("[bc_sender]", [])])
    run_table(admin, [("[bc_from:0]", [COST["de"][0]]), ("[bc_lang:en]", []), ("Hello!", [])])
    assert len(urgent_buttons(admin)) == 1
    admin.tap(BUTTON["de"])
    assert last_broadcast(city).urgent
