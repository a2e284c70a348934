"""Dialog tables: an invitation sent as the very first message waits through the language choice
and the consent, then makes the new user a coordinator (or says why it cannot)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.clock import FakeClock
from db.engine import session_scope
from db.models import Invitation, Organisation, Role, RoleName, User
from db.roles import create_invitation
from tests.conftest import make_settings
from tests.dialog import Dialog, run_table

# What each language says when the invitation waits, and when the role is granted.
KEPT = {
    "de": "Danke für deinen Einladungscode.",
    "uk": "Дякуємо за код запрошення.",
    "ar": "شكرًا على رمز الدعوة.",
}
GRANTED = {
    "de": "Du koordinierst jetzt für",
    "uk": "Тепер ви координатор організації",
    "ar": "أصبحت الآن منسقًا لدى",
}
ANNOUNCE = {"de": "Ankündigungen senden", "uk": "надсилати оголошення", "ar": "وإرسال الإعلانات"}
TOOLS = {"de": "Koordination", "uk": "Інструменти координатора", "ar": "أدوات التنسيق"}


@pytest.fixture
def city(db_path: Path, clock: FakeClock) -> Iterator[App]:
    application = App(make_settings(db_path), clock=clock)
    yield application
    application.close()


def invite(app: App, now: FakeClock, name: str = "ASZ") -> str:
    """Create an invitation for the organisation whose name contains `name`; return its code."""
    with session_scope(app.engine) as session:
        organisation = session.exec(
            select(Organisation).where(col(Organisation.name).contains(name))
        ).one()
        return create_invitation(
            session, organisation=organisation, created_by=None, now=now.now()
        ).code


def roles_of(app: App, user: str) -> list[str]:
    with session_scope(app.engine) as session:
        return list(
            session.exec(
                select(Role.role)
                .join(User, col(User.id) == col(Role.user_id))
                .where(User.external_id == user)
            ).all()
        )


@pytest.mark.parametrize("locale", ["de", "uk", "ar"])
def test_a_deep_link_from_a_new_user_makes_a_coordinator(
    city: App, clock: FakeClock, locale: str
) -> None:
    code = invite(city, clock)
    dialog = Dialog(city.conversation, user="nadia")
    run_table(
        dialog,
        [
            (f"/start c_{code}", ["Willkommen!", "Deutsch", "العربية"]),
            (f"[lang_set:{locale}]", ["/mydata"]),
            ("[agree]", [GRANTED[locale], "ASZ", ANNOUNCE[locale], TOOLS[locale]], 2),
        ],
    )
    assert roles_of(city, "nadia") == [RoleName.COORDINATOR]
    dialog.say("/coordinator")
    assert "ASZ" in dialog.text and "/join" not in dialog.text


@pytest.mark.parametrize("locale", ["de", "uk", "ar"])
def test_join_typed_as_the_first_message_waits_for_consent(
    city: App, clock: FakeClock, locale: str
) -> None:
    code = invite(city, clock)
    dialog = Dialog(city.conversation, user="sami")
    run_table(
        dialog,
        [
            (f"/join {code}", [KEPT["de"], "Deutsch"]),
            # A stray word and a plain /start on the way do not lose the code.
            ("hello", ["Deutsch"]),
            ("/start", ["Willkommen!"]),
            (f"[lang_set:{locale}]", ["/mydata"]),
            ("[agree]", [GRANTED[locale], ANNOUNCE[locale]], 2),
        ],
    )
    assert roles_of(city, "sami") == [RoleName.COORDINATOR]
    with session_scope(city.engine) as session:
        assert session.exec(select(Invitation)).one().used_at is not None


@pytest.mark.parametrize("locale", ["de", "uk", "ar"])
def test_join_at_the_consent_step_is_kept_too(city: App, clock: FakeClock, locale: str) -> None:
    code = invite(city, clock)
    dialog = Dialog(city.conversation, user="olena")
    dialog.say("/start")
    dialog.press(f"lang_set:{locale}")
    run_table(
        dialog,
        [
            (f"/join {code}", [KEPT[locale], "/mydata"]),
            ("[agree]", [GRANTED[locale]], 2),
        ],
    )
    assert roles_of(city, "olena") == [RoleName.COORDINATOR]


def test_a_used_code_is_answered_after_onboarding(city: App, clock: FakeClock) -> None:
    code = invite(city, clock)
    Dialog(city.conversation, user="first").onboard("en")
    Dialog(city.conversation, user="first").say(f"/join {code}")
    late = Dialog(city.conversation, user="late")
    run_table(
        late,
        [
            (f"/start c_{code}", ["Wähle deine Sprache"]),
            ("[lang_set:de]", ["/mydata"]),
            ("[agree]", ["Diese Einladung wurde schon benutzt."], 2),
        ],
    )
    assert roles_of(city, "late") == []


def test_an_expired_code_is_answered_after_onboarding(city: App, clock: FakeClock) -> None:
    code = invite(city, clock)
    clock.advance(timedelta(days=8))
    dialog = Dialog(city.conversation, user="slow")
    run_table(
        dialog,
        [
            (f"/join {code}", [KEPT["de"]]),
            ("[lang_set:ar]", ["/mydata"]),
            ("[agree]", ["انتهت صلاحية هذه الدعوة"], 2),
        ],
    )
    assert roles_of(city, "slow") == []


def test_declining_forgets_the_kept_code(city: App, clock: FakeClock) -> None:
    code = invite(city, clock)
    dialog = Dialog(city.conversation, user="shy")
    dialog.say(f"/join {code}")
    dialog.press("lang_set:uk")
    dialog.press("decline")
    with session_scope(city.engine) as session:
        assert session.exec(select(User).where(User.external_id == "shy")).first() is None
        assert session.exec(select(Invitation)).one().used_at is None
    dialog.onboard("uk")
    assert roles_of(city, "shy") == []


def test_an_unknown_code_from_a_deep_link_is_answered_after_onboarding(city: App) -> None:
    dialog = Dialog(city.conversation, user="guess")
    run_table(
        dialog,
        [
            ("/start c_NOPE-1234_x", ["Deutsch"]),
            ("[lang_set:uk]", ["/mydata"]),
            ("[agree]", ["Я не знаю такого коду запрошення."], 2),
        ],
    )
    assert roles_of(city, "guess") == []
