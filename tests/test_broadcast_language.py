"""Dialog tables: an announcement is written first in the sender's own chat language, then in
others; each recipient gets theirs, else the German text, else the original, credited to the
organisation the sender chose."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import func, select

from bot.app import App
from bot.clock import FakeClock
from db.engine import session_scope
from db.models import Broadcast, ConversationState, Organisation, User
from tests.conftest import make_settings
from tests.dialog import Dialog, run_table
from tests.test_broadcast_sender import SPRACHCAFE, make_coordinator
from tests.test_coordinator import recording_worker

# What the first question says in the sender's language, and the announcement they write.
ASK = {
    "de": ("Bitte schreib die Ankündigung auf Deutsch.", "Kommt alle zum Sprachcafé!"),
    "en": ("Please write the announcement in English.", "Come to the language café!"),
    "uk": ("напишіть оголошення мовою: українська", "Приходьте всі до мовного кафе!"),
    "ar": ("يُرجى كتابة الإعلان باللغة \u2068العربية\u2069", "تعالوا جميعًا إلى مقهى اللغة!"),
    "fa": ("اطلاعیه را به زبان \u2068فارسی\u2069 بنویسید", "همه به کافه زبان بیایید!"),
}
GERMAN = "Kommt alle zum Sprachcafé am Freitag!"
# The note under an announcement shown in another language, in German and Turkish.
NOTE = {"de": "Diese Ankündigung gibt es nicht in deiner Sprache.", "tr": "Bu duyuru sizin"}


@pytest.fixture
def city(db_path: Path, clock: FakeClock) -> Iterator[App]:
    application = App(make_settings(db_path, admin_ids="console:admin"), clock=clock)
    yield application
    application.close()


async def _announce(app: App, clock: FakeClock, sender: Dialog, table: list) -> dict[str, str]:
    """Play the table, send now, deliver, and return the last text each reader got."""
    run_table(sender, [("[bc_new]", []), ("[bc_aud:all:0]", [ASK[sender_locale(sender)][0]])])
    run_table(sender, table)
    run_table(sender, [("@📣", [])])
    transport, worker = recording_worker(app, clock)
    await worker.deliver_due()
    return {key: "\n".join(r.text for r in replies) for key, replies in transport.sent}


def sender_locale(dialog: Dialog) -> str:
    return dialog.user.removeprefix("sender-")


@pytest.mark.parametrize("locale", sorted(ASK))
async def test_an_announcement_is_written_in_the_senders_language_first(
    city: App, clock: FakeClock, locale: str
) -> None:
    for reader in ("de", "tr", locale):
        Dialog(city.conversation, user=f"reader-{reader}").onboard(reader)
    sender = Dialog(city.conversation, user=f"sender-{locale}")
    sender.onboard(locale)
    make_coordinator(city, sender.user, ["sprachcafe-lautern"], clock)
    original = ASK[locale][1]
    # Only the original: everyone gets it; readers of other languages with a note naming it.
    got = await _announce(city, clock, sender, [(original, [original, SPRACHCAFE, "➕"])])
    assert original in got[f"reader-{locale}"] and SPRACHCAFE in got[f"reader-{locale}"]
    assert NOTE["de"] not in got[f"reader-{locale}"]
    for reader in ("de", "tr"):
        assert original in got[f"reader-{reader}"]
        assert (NOTE[reader] in got[f"reader-{reader}"]) is (reader != locale)
    if locale == "de":
        return
    # The original and a German translation added after it: German for those without theirs.
    got = await _announce(
        city,
        clock,
        sender,
        [(original, [original]), ("[bc_lang:de]", ["Deutsch"]), (GERMAN, [original, "Deutsch"])],
    )
    assert original in got[f"reader-{locale}"] and GERMAN not in got[f"reader-{locale}"]
    assert GERMAN in got["reader-de"] and NOTE["de"] not in got["reader-de"]
    assert GERMAN in got["reader-tr"] and NOTE["tr"] in got["reader-tr"]
    assert all(SPRACHCAFE in text for text in got.values())


@pytest.mark.parametrize("locale", ["de", "uk", "ar"])
def test_text_typed_at_a_button_step_shows_the_step_again(
    city: App, clock: FakeClock, locale: str
) -> None:
    Dialog(city.conversation, user="reader").onboard("de")
    sender = Dialog(city.conversation, user=f"sender-{locale}")
    sender.onboard(locale)
    make_coordinator(city, sender.user, ["asz", "sprachcafe-lautern"], clock)
    t = city.translations.get(locale)
    again = t._("Please choose one of the buttons.")
    who = t._("Who should receive the announcement?")
    whose = t._("In whose name should the announcement be sent?")
    run_table(
        sender,
        [
            ("[bc_new]", [who]),
            ("an alle", [again, who], 2),
            ("[bc_aud:all:0]", [whose]),
            ("Sprachcafé", [again, whose, SPRACHCAFE], 2),
            (f"@{SPRACHCAFE}", [ASK[locale][0]]),
            ("Hallo zusammen!", ["Hallo zusammen!", SPRACHCAFE]),
            ("jetzt senden", [again, "Hallo zusammen!", SPRACHCAFE], 2),
        ],
    )


@pytest.mark.parametrize("locale", ["de", "uk", "fa"])
def test_a_draft_without_a_chosen_sender_asks_instead_of_guessing(
    city: App, clock: FakeClock, locale: str
) -> None:
    """A draft begun before senders were chosen used to go out from the first organisation."""
    Dialog(city.conversation, user="reader").onboard("de")
    sender = Dialog(city.conversation, user=f"sender-{locale}")
    sender.onboard(locale)
    make_coordinator(city, sender.user, ["asz", "sprachcafe-lautern"], clock)
    with session_scope(city.engine) as session:
        user = session.exec(select(User).where(User.external_id == sender.user)).one()
        state = session.exec(
            select(ConversationState).where(ConversationState.user_id == user.id)
        ).one()
        state.flow, state.step = "broadcast", "languages"
        draft = {"audience": "all", "target": None, "texts": {locale: "Hallo!"}}
        state.data = {**state.data, "flow": draft}
    whose = city.translations.get(locale)._("In whose name should the announcement be sent?")
    run_table(sender, [("[bc_send:now]", [whose, SPRACHCAFE])])
    with session_scope(city.engine) as session:
        assert session.exec(select(func.count()).select_from(Broadcast)).one() == 0
    run_table(sender, [(f"@{SPRACHCAFE}", ["Hallo!", SPRACHCAFE]), ("@📣", [])])
    with session_scope(city.engine) as session:
        broadcast = session.exec(select(Broadcast)).one()
        found = session.exec(
            select(Organisation).where(Organisation.slug == "sprachcafe-lautern")
        ).one()
        assert broadcast.organisation_id == found.id
