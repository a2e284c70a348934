"""Publishing on Signal, where buttons are numbered lines: a Ukrainian coordinator goes back,
keeps an answer, changes a field from the preview and publishes, all by typed numbers and text,
against the fake signal-cli daemon (tests/fake_signal_cli.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import select

from bot.app import App
from bot.clock import FakeClock
from db.engine import session_scope
from db.models import ItemStatus, Offer, Organisation, User
from db.roles import grant
from tests.fake_signal_cli import FakeSignalCli
from tests.running import signal_daemon
from tests.test_signal import Person, make_transport, number_of, running

pytestmark = pytest.mark.both_databases


@pytest.fixture
async def fake(app: App) -> AsyncIterator[FakeSignalCli]:
    """The daemon, with the bot's Signal transport connected to it."""
    async with signal_daemon() as daemon, running(make_transport(app, daemon)):
        yield daemon


async def test_a_coordinator_publishes_on_signal_by_numbers(
    app: App, fake: FakeSignalCli, clock: FakeClock
) -> None:
    t = app.translations.get("uk")
    olena = Person(fake)
    text = await olena.say("start")
    text = await olena.say(number_of(text, "Українська"))
    await olena.say(number_of(text, t.pgettext("button", "✅ I agree")))
    with session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.external_id == olena.aci)).one()
        asz = session.exec(select(Organisation).where(Organisation.id == 1)).one()
        grant(session, user=user, role="coordinator", organisation_id=asz.id, now=clock.now())
    text = await olena.say("/coordinator")
    text = await olena.say(number_of(text, t.pgettext("button", "➕ New offer")))
    assert t._("Which topic fits best?") in text
    text = await olena.say("1")
    assert t._("What is the title? Short and clear, please.") in text
    text = await olena.say("Мовний клуб")
    assert t._("In one sentence: what will volunteers do?") in text
    # "Back" by its number, at a question whose answer is text: the title comes back to keep.
    text = await olena.say(number_of(text, t.pgettext("button", "◀ Back")))
    assert "Мовний клуб" in text
    text = await olena.say(number_of(text, t.pgettext("button", "✅ Keep this")))
    text = await olena.say("Розмовляємо німецькою разом.")
    text = await olena.say(number_of(text, t.pgettext("button", "⏭ Skip")))  # description
    text = await olena.say(number_of(text, t.pgettext("button", "No particular district")))
    for _ in range(4):  # place, address, schedule, contact
        text = await olena.say(number_of(text, t.pgettext("button", "⏭ Skip")))
    assert t._("Publish it now?") in text and "Мовний клуб" in text
    text = await olena.say(number_of(text, t.pgettext("button", "✏️ Change something")))
    text = await olena.say(number_of(text, t.pgettext("button", "✏️ Contact")))
    text = await olena.say("klub@example.org")
    assert "klub@example.org" in text and t._("Publish it now?") in text
    text = await olena.say(number_of(text, t.pgettext("button", "✅ Publish")))
    with session_scope(app.engine) as session:
        offer = session.exec(select(Offer).where(Offer.title == "Мовний клуб")).one()
        assert offer.status == ItemStatus.PUBLISHED and offer.contact == "klub@example.org"
        assert offer.locale == "uk"
        assert f"/start o_{offer.id}" in text
