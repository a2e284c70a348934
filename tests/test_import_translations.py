"""Re-importing an item whose original text changed marks its translations outdated, as an edit
in the chat does: readers of those languages see the new original, with the note, until a
coordinator updates the translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import App
from bot.cli import main
from bot.clock import FakeClock
from db.engine import session_scope
from db.imports import import_offers_csv
from db.models import Event, EventTranslation, Offer, OfferTranslation
from db.translations import save_translation
from tests.dialog import Dialog

pytestmark = pytest.mark.both_databases

CSV = """source_id;organisation;category;title;summary;address
tr-1;asz;integration;Patenschaft für Familien;Familien begleiten;Marktstraße 1
"""

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:tr-feed@example.org
DTSTAMP:20261120T100000Z
DTSTART;TZID=Europe/Berlin:20261210T180000
SUMMARY:Adventscafé
LOCATION:Stadtteilbüro
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture
def in_folder(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    """The command line on the test's database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    return database_url


def _translate_offer(app: App) -> int:
    with session_scope(app.engine) as session:
        offer = session.exec(select(Offer).where(Offer.source_id == "tr-1")).one()
        for locale, title in (("uk", "Патронат для сімей"), ("en", "Mentoring families")):
            save_translation(
                session,
                item=offer,
                locale=locale,
                texts={"title": title, "summary": title},
                draft=False,
                machine=False,
            )
        assert offer.id is not None
        return offer.id


def _outdated(app: App, model: type[OfferTranslation] | type[EventTranslation]) -> set[str]:
    with session_scope(app.engine) as session:
        return {row.locale for row in session.exec(select(model)) if row.outdated}


def test_a_changed_csv_text_marks_translations_outdated_and_readers_see_the_original(
    app: App, clock: FakeClock
) -> None:
    with session_scope(app.engine) as session:
        import_offers_csv(session, text=CSV, now=clock.now())
    offer_id = _translate_offer(app)
    reader = Dialog(app.conversation, user="olena")
    reader.onboard("uk")
    reader.press(f"o:{offer_id}")
    assert "Патронат для сімей" in reader.text
    # The same file again, and a change of the address only: the translations stay current.
    moved = CSV.replace("Marktstraße 1", "Marktstraße 2")
    for text in (CSV, moved):
        with session_scope(app.engine) as session:
            report = import_offers_csv(session, text=text, now=clock.now())
            assert report.changes == ()
    assert _outdated(app, OfferTranslation) == set()
    changed = moved.replace("Patenschaft für Familien", "ABGESAGT: Patenschaft")
    with session_scope(app.engine) as session:
        report = import_offers_csv(session, text=changed, now=clock.now())
    assert report.updated == 1
    assert report.changes == (
        "translations outdated: ABGESAGT: Patenschaft (en, uk); readers see the original",
    )
    assert _outdated(app, OfferTranslation) == {"en", "uk"}
    reader.press(f"o:{offer_id}")
    assert "ABGESAGT: Patenschaft" in reader.text
    assert "Патронат для сімей" not in reader.text


def test_a_changed_feed_title_marks_translations_outdated_and_the_command_says_so(
    in_folder: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], app: App, clock: FakeClock
) -> None:
    feed = tmp_path / "feed.ics"
    feed.write_text(ICS, encoding="utf-8")
    assert main(["import", str(feed), "--org", "asz"]) == 0
    with session_scope(app.engine) as session:
        uid = "ics:tr-feed@example.org"
        event = session.exec(select(Event).where(Event.source_id == uid)).one()
        save_translation(
            session,
            item=event,
            locale="ar",
            texts={"title": "مقهى المجيء"},
            draft=False,
            machine=False,
        )
    capsys.readouterr()
    feed.write_text(ICS.replace("Adventscafé", "Adventscafé fällt aus"), encoding="utf-8")
    assert main(["import", str(feed), "--org", "asz", "--dry-run"]) == 0
    assert "translations outdated: Adventscafé fällt aus (ar)" in capsys.readouterr().out
    assert _outdated(app, EventTranslation) == set(), "a dry run changes nothing"
    assert main(["import", str(feed), "--org", "asz"]) == 0
    assert "translations outdated: Adventscafé fällt aus (ar)" in capsys.readouterr().out
    assert _outdated(app, EventTranslation) == {"ar"}
