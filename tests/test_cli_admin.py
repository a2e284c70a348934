"""The operators' commands: admins, invitations, announcements and imports."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlmodel import func, select

from bot.app import App
from bot.cli import main
from bot.clock import FakeClock
from db.engine import session_scope
from db.imports import import_events_ics, import_offers_csv
from db.models import Broadcast, Event, Offer, OutboxMessage, Role
from db.outbox import BULK_LANE, URGENT_LANE
from tests.conftest import make_settings
from tests.dialog import Dialog

pytestmark = pytest.mark.both_databases


@pytest.fixture
def in_folder(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    return database_url


def test_admin_add_and_coordinator_invite(
    in_folder: str, capsys: pytest.CaptureFixture[str], clock: FakeClock
) -> None:
    assert main(["admin", "add", "telegram:4242"]) == 0
    assert "is now an admin" in capsys.readouterr().out
    assert main(["admin", "add", "telegram:4242"]) == 0
    assert "already" in capsys.readouterr().out
    assert main(["admin", "add", "nonsense"]) == 2
    assert main(["coordinator", "invite", "--org", "asz"]) == 0
    out = capsys.readouterr().out
    code = out.split("/join ")[1].split()[0]
    assert main(["coordinator", "invite", "--org", "nowhere"]) == 2
    app = App(make_settings(in_folder), clock=clock)
    dialog = Dialog(app.conversation, user="newcoord", locale_hint="en")
    dialog.onboard("en")
    dialog.say(f"/join {code}")
    assert "You are now a coordinator" in dialog.text
    with session_scope(app.engine) as session:
        assert session.exec(select(func.count()).select_from(Role)).one() == 2
    app.close()


@pytest.mark.parametrize(
    ("who", "says"),
    [
        ("signal:+4917612345678", "Signal users are keyed by their account id (ACI"),
        ("signal:0176 1234567", "listContacts"),
        ("signal:not-a-uuid", "ACI, a UUID"),
        ("telegram:abc", "a Telegram user id is a positive number"),
        ("telegram:-100123", "positive number"),
        ("telegram:0", "positive number"),
        ("whatsapp:123", "telegram:<user id, a positive number>"),
        ("whatsapp:123", "signal:<ACI, a UUID>"),
        ("whatsapp:123", "console:<name>"),
        ("console:", "console:<name>"),
        ("nonsense", "is not one of"),
    ],
)
def test_admin_add_refuses_ids_that_can_never_match(
    in_folder: Path, capsys: pytest.CaptureFixture[str], clock: FakeClock, who: str, says: str
) -> None:
    assert main(["admin", "add", who]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and says in captured.err
    app = App(make_settings(in_folder), clock=clock)
    with session_scope(app.engine) as session:
        assert session.exec(select(func.count()).select_from(Role)).one() == 0
    app.close()


def test_admin_add_takes_each_messengers_real_ids(
    in_folder: Path, capsys: pytest.CaptureFixture[str], clock: FakeClock
) -> None:
    aci = "1B2C3D4E-5F60-4718-9A2B-3C4D5E6F7A8B"
    for who in ("telegram:123456789", f"signal:{aci}", "console:admin"):
        assert main(["admin", "add", who]) == 0
        assert "is now an admin" in capsys.readouterr().out
    assert main(["admin", "add", f"signal:{aci.lower()}"]) == 0
    assert "already" in capsys.readouterr().out
    app = App(make_settings(in_folder), clock=clock)
    admin = Dialog(app.conversation, user="admin")
    admin.onboard("en")
    admin.say("/coordinator")
    assert any("Invite a coordinator" in label for label in admin.labels)
    app.close()


@pytest.mark.parametrize(
    "arguments",
    [
        ["--text", ""],
        ["--text", "   \n\t "],
        ["--text", "\u2068\u200f\u2069"],
        ["--text", "Hallo", "--translation", "ar="],
        ["--text", "Hallo", "--translation", "uk=  "],
    ],
)
def test_an_empty_announcement_is_refused_and_nothing_queued(
    in_folder: Path, capsys: pytest.CaptureFixture[str], clock: FakeClock, arguments: list[str]
) -> None:
    app = App(make_settings(in_folder), clock=clock)
    Dialog(app.conversation, user="reader").onboard("ar")
    app.close()
    assert main(["broadcast", *arguments]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "is empty" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    app = App(make_settings(in_folder), clock=clock)
    with session_scope(app.engine) as session:
        assert session.exec(select(func.count()).select_from(OutboxMessage)).one() == 0
    app.close()


def test_broadcast_from_the_command_line(
    in_folder: str, capsys: pytest.CaptureFixture[str], clock: FakeClock
) -> None:
    app = App(make_settings(in_folder), clock=clock)
    for name in ("a", "b"):
        dialog = Dialog(app.conversation, user=name)
        dialog.onboard("de")
        dialog.press("fol:c:1")
    app.close()
    assert (
        main(["broadcast", "--audience", "topic:integration", "--text", "Hallo", "--dry-run"]) == 0
    )
    assert "2 people would receive it" in capsys.readouterr().out
    assert (
        main(
            [
                "broadcast",
                "--audience",
                "topic:integration",
                "--text",
                "Hallo",
                "--translation",
                "en=Hello",
                "--at",
                "morgen 10 Uhr",
            ]
        )
        == 0
    )
    assert "queued for 2 people" in capsys.readouterr().out
    assert main(["broadcast", "--audience", "district:nowhere", "--text", "x"]) == 2
    assert main(["broadcast", "--audience", "event:1", "--text", "x"]) == 2  # nobody going
    assert "no one would receive" in capsys.readouterr().err
    assert main(["broadcast", "--text", "x", "--translation", "xx=y"]) == 2
    app = App(make_settings(in_folder), clock=clock)
    with session_scope(app.engine) as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "broadcast")).all()
        assert len(rows) == 2 and all(r.next_attempt_at > clock.now() for r in rows)
    app.close()


def test_an_urgent_broadcast_from_the_command_line_needs_paid_broadcasts(
    in_folder: str,
    capsys: pytest.CaptureFixture[str],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = App(make_settings(in_folder), clock=clock)
    for name in ("7001", "7002", "7003"):
        Dialog(app.conversation, user=name, transport="telegram").onboard("de")
    Dialog(app.conversation, user="reader").onboard("de")
    app.close()
    assert main(["broadcast", "--text", "Hallo", "--urgent"]) == 2
    assert "TELEGRAM_PAID_BROADCASTS" in capsys.readouterr().err
    monkeypatch.setenv("TELEGRAM_PAID_BROADCASTS", "true")
    assert main(["broadcast", "--text", "Hallo", "--urgent", "--dry-run"]) == 0
    assert "at most 0.3 Telegram Stars for 3 messages" in capsys.readouterr().out
    assert main(["broadcast", "--text", "Hallo", "--urgent"]) == 0
    assert "queued for 4 people" in capsys.readouterr().out
    app = App(make_settings(in_folder), clock=clock)
    with session_scope(app.engine) as session:
        assert session.exec(select(Broadcast)).one().urgent
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "broadcast")).all()
        assert sorted(row.lane for row in rows) == [URGENT_LANE] * 3 + [BULK_LANE]
    app.close()


CSV = """source_id,organisation,category,district,title,summary,latitude,longitude
csv-1,asz,integration,innenstadt-west,Patenschaft für Familien,Familien begleiten,49.44,7.76
csv-2,ehrenamt-kl,sport,,Übungsleitung,Kinder trainieren,,
"""

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:feed-1@example.org
DTSTAMP:20261120T100000Z
DTSTART;TZID=Europe/Berlin:20261210T180000
DTEND;TZID=Europe/Berlin:20261210T200000
SUMMARY:Adventscafé
LOCATION:Stadtteilbüro
GEO:49.44;7.76
END:VEVENT
BEGIN:VEVENT
UID:feed-2@example.org
DTSTAMP:20261120T100000Z
DTSTART:20261212T090000Z
SUMMARY:Clean-up
END:VEVENT
END:VCALENDAR
""".replace("\n", "\r\n").encode()


def test_importing_the_same_files_twice_changes_nothing(app: App, clock: FakeClock) -> None:
    with session_scope(app.engine) as session:
        first = import_offers_csv(session, text=CSV, now=clock.now())
        events = import_events_ics(
            session, data=ICS, now=clock.now(), tz=app.settings.tz, organisation_slug="asz"
        )
    assert (first.created, events.created) == (2, 2)
    with session_scope(app.engine) as session:
        again = import_offers_csv(session, text=CSV, now=clock.now())
        events_again = import_events_ics(
            session, data=ICS, now=clock.now(), tz=app.settings.tz, organisation_slug="asz"
        )
        assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
        assert (events_again.created, events_again.updated, events_again.unchanged) == (0, 0, 2)
        cafe = session.exec(select(Event).where(Event.source_id == "ics:feed-1@example.org")).one()
        assert cafe.starts_at.hour == 17  # 18:00 in Berlin in winter
        assert (
            session.exec(select(Offer).where(Offer.source_id == "csv-2")).one().district_id is None
        )
    changed = CSV.replace("Familien begleiten", "Familien unterstützen")
    with session_scope(app.engine) as session:
        assert import_offers_csv(session, text=changed, now=clock.now()).updated == 1


def test_import_command_and_bad_files(
    in_folder: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "offers.csv"
    good.write_text(CSV, encoding="utf-8")
    assert main(["import", str(good)]) == 0
    assert "2 new" in capsys.readouterr().out
    assert main(["import", str(good)]) == 0
    assert "0 new, 0 updated, 2 unchanged" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("source_id,organisation,category,title\nx,nowhere,integration,T\n")
    assert main(["import", str(bad)]) == 2
    assert "line 2: unknown organisation 'nowhere'" in capsys.readouterr().err
    feed = tmp_path / "feed.ics"
    feed.write_bytes(ICS)
    assert main(["import", str(feed)]) == 2
    assert "--org" in capsys.readouterr().err
    assert main(["import", str(feed), "--org", "asz"]) == 0
    assert main(["import", str(tmp_path / "missing.csv")]) == 2


EXCEL_CSV = (
    "Source_ID;Organisation;Category;District;Title;Summary;Latitude;Longitude\r\n"
    "xl-1;asz;Kinder & Jugend;Innenstadt-Ost;Lesepaten für Grundschüler;"
    "Vorlesen, üben;49,44;7,76\r\n"
    '"xl-2";ehrenamt-kl;Діти та молодь;;"Spielplatz; Aufsicht";Größere Kinder;;\r\n'
)


def test_a_windows_1252_semicolon_csv_with_umlauts_imports(
    in_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: FakeClock
) -> None:
    sheet = tmp_path / "excel.csv"
    sheet.write_bytes(EXCEL_CSV.replace("Діти та молодь", "children-youth").encode("cp1252"))
    assert main(["import", str(sheet), "--dry-run"]) == 0
    assert "dry run, nothing changed; excel.csv would give: 2 new" in capsys.readouterr().out
    assert main(["import", str(sheet), "--dry-run"]) == 0
    assert "2 new" in capsys.readouterr().out  # still new: the dry run stored nothing
    assert main(["import", str(sheet)]) == 0
    assert "2 new" in capsys.readouterr().out
    app = App(make_settings(in_folder), clock=clock)
    with session_scope(app.engine) as session:
        first = session.exec(select(Offer).where(Offer.source_id == "xl-1")).one()
        second = session.exec(select(Offer).where(Offer.source_id == "xl-2")).one()
        assert first.title == "Lesepaten für Grundschüler"
        assert (first.summary, first.latitude) == ("Vorlesen, üben", 49.44)
        assert first.category_id == second.category_id and first.district_id is not None
        assert (second.title, second.summary) == ("Spielplatz; Aufsicht", "Größere Kinder")
    app.close()


@pytest.mark.parametrize(
    ("encoding", "separator"),
    [("utf-8", ","), ("utf-8-sig", ";"), ("utf-8", "\t"), ("utf-16", ";")],
)
def test_csv_encodings_and_separators(
    app: App, clock: FakeClock, encoding: str, separator: str
) -> None:
    from db.imports import decode_csv

    rows = list(csv.reader(io.StringIO(EXCEL_CSV, newline=""), delimiter=";"))
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=separator).writerows(rows)
    text = out.getvalue()
    with session_scope(app.engine) as session:
        report = import_offers_csv(session, text=decode_csv(text.encode(encoding)), now=clock.now())
        assert report.created == 2
        names = {o.source_id: o.title for o in session.exec(select(Offer)).all()}
        assert names["xl-1"] == "Lesepaten für Grundschüler"


def test_csv_errors_are_one_line_with_the_line_number_and_the_valid_names(
    in_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = tmp_path / "bad.csv"
    sheet.write_text(
        "source_id;organisation;category;title\nok;asz;integration;Fine\nx;asz;Integrationen;T\n",
        encoding="utf-8",
    )
    assert main(["import", str(sheet)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("engagebot: bad.csv: line 3: unknown category 'Integrationen'; valid: ")
    assert "children-youth (Kinder & Jugend)" in err and "integration (Integration)" in err
    sheet.write_text("source_id;organisation;title\nx;asz;T\n", encoding="utf-8")
    assert main(["import", str(sheet)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "engagebot: bad.csv: line 1: missing columns: category "
        "(found: source_id, organisation, title)"
    )
    sheet.write_bytes(b"source_id,organisation,category,title\nx,asz,sport,\x81\x8d\n")
    assert main(["import", str(sheet)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("engagebot: bad.csv: line 2: the file is neither UTF-8 nor Windows-1252")
    sheet.write_text("source_id,organisation,category,district,title\nx,asz,sport,Mars,T\n")
    assert main(["import", str(sheet)]) == 2
    assert "line 2: unknown district 'Mars'; valid: innenstadt-west (Innenstadt-West)" in (
        capsys.readouterr().err
    )


def _feed(*events: str) -> bytes:
    body = "".join(
        f"BEGIN:VEVENT\nDTSTAMP:20261120T100000Z\n{event.strip()}\nEND:VEVENT\n" for event in events
    )
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{body}END:VCALENDAR\n"
    return text.replace("\n", "\r\n").encode()


MOVED = "UID:a@x\nSUMMARY:Café\nLOCATION:Saal\nDTSTART:{start}"
PLACE = "UID:b@x\nSUMMARY:Flohmarkt\nLOCATION:{place}\nDTSTART:20261205T100000Z"
CANCEL = "UID:c@x\nSUMMARY:Konzert\nDTSTART:20261206T180000Z{status}"
GONE = "UID:d@x\nSUMMARY:Lesung\nDTSTART:20261207T180000Z"


def test_a_reimported_feed_moves_cancels_and_prunes_telling_people_going_once(
    in_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: FakeClock
) -> None:
    from datetime import timedelta

    from bot.jobs import queue_due_reminders
    from db.attendance import join_event
    from db.models import OutboxStatus, User

    feed = tmp_path / "feed.ics"
    feed.write_bytes(
        _feed(
            MOVED.format(start="20261127T080000Z"),
            PLACE.format(place="Hof"),
            CANCEL.format(status=""),
            GONE,
        )
    )
    assert main(["import", str(feed), "--org", "asz"]) == 0
    assert "4 new" in capsys.readouterr().out
    app = App(make_settings(in_folder), clock=clock)
    Dialog(app.conversation, user="anna", locale_hint="de").onboard("de")
    with session_scope(app.engine) as session:
        anna = session.exec(select(User).where(User.external_id == "anna")).one()
        for event in session.exec(select(Event).where(Event.source_id.startswith("ics:"))):
            join_event(session, user=anna, event=event, now=clock.now())
        assert queue_due_reminders(session, now=clock.now(), leads=(timedelta(hours=24),)) == 1
    feed.write_bytes(
        _feed(
            MOVED.format(start="20261127T120000Z"),
            PLACE.format(place="Turnhalle"),
            CANCEL.format(status="\nSTATUS:CANCELLED"),
        )
    )

    def outbox() -> list[tuple[str, str]]:
        with session_scope(app.engine) as session:
            rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
            return [(row.kind, row.status) for row in rows if row.kind != "welcome"]

    before = outbox()
    assert main(["import", str(feed), "--org", "asz", "--prune", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dry run, nothing changed")
    assert "2 updated, 0 unchanged, 1 cancelled, 1 archived" in out
    assert "updated: Café (time, 1 going told)" in out and "cancelled: Konzert" in out
    assert "archived, gone from the feed: Lesung" in out
    assert outbox() == before
    with session_scope(app.engine) as session:
        assert session.exec(select(Event).where(Event.source_id == "ics:d@x")).one().status == (
            "published"
        )
    for _ in range(2):  # the second run changes nothing and tells nobody again
        assert main(["import", str(feed), "--org", "asz", "--prune"]) == 0
    kinds = outbox()
    assert kinds.count(("reminder", OutboxStatus.DROPPED)) == 1  # the one for the old time
    assert sorted(k for k, _ in kinds if k.startswith("event_")) == [
        "event_cancelled",
        "event_cancelled",
        "event_changed",
        "event_changed",
    ]
    assert "0 new, 0 updated, 3 unchanged" in capsys.readouterr().out.splitlines()[-1]
    with session_scope(app.engine) as session:
        status = {
            e.source_id: e.status
            for e in session.exec(select(Event).where(Event.source_id.startswith("ics:")))
        }
        assert status == {
            "ics:a@x": "published",
            "ics:b@x": "published",
            "ics:c@x": "cancelled",
            "ics:d@x": "archived",
        }
        later = clock.now() + timedelta(hours=4)  # the new time's reminder comes in its window
        assert queue_due_reminders(session, now=later, leads=(timedelta(hours=24),)) == 1
    app.close()


def test_a_broken_ics_is_one_line_without_raw_bytes(
    in_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = tmp_path / "feed.ics"
    feed.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff garbage")
    assert main(["import", str(feed), "--org", "asz"]) == 2
    err = capsys.readouterr().err
    assert err == "engagebot: feed.ics: not an iCalendar file: it must start with BEGIN:VCALENDAR\n"
    feed.write_bytes(
        _feed("UID:w@x\nSUMMARY:Café\nDTSTART:20261212T100000Z").decode().encode("cp1252")
    )
    assert main(["import", str(feed), "--org", "asz"]) == 0
    app = App(make_settings(in_folder))
    with session_scope(app.engine) as session:
        assert session.exec(select(Event).where(Event.source_id == "ics:w@x")).one().title == "Café"
    app.close()
    feed.write_bytes(_feed("UID:z@x\nDTSTART:notadate"))
    assert main(["import", str(feed), "--org", "asz"]) == 2
    assert capsys.readouterr().err == (
        "engagebot: feed.ics: event 1 (z@x): DTSTART or DTEND is not a date\n"
    )


def test_an_all_day_event_is_stored_and_shown_without_a_time(
    in_folder: Path, tmp_path: Path, clock: FakeClock
) -> None:
    from bot.ics import CalendarTexts, event_calendar

    feed = tmp_path / "feed.ics"
    feed.write_bytes(
        _feed(
            "UID:day@x\nSUMMARY:Stadtfest\nDTSTART;VALUE=DATE:20261212\nDTEND;VALUE=DATE:20261213"
        )
    )
    assert main(["import", str(feed), "--org", "asz"]) == 0
    app = App(make_settings(in_folder), clock=clock)
    with session_scope(app.engine) as session:
        event = session.exec(select(Event).where(Event.source_id == "ics:day@x")).one()
        assert event.all_day and event.starts_at.astimezone(app.settings.tz).hour == 0
        event_id = event.id
        exported = event_calendar(
            event, CalendarTexts("Stadtfest", ""), settings=app.settings, now=clock.now()
        ).decode()
    assert "DTSTART;VALUE=DATE:20261212" in exported
    dialog = Dialog(app.conversation, user="berta", locale_hint="de")
    dialog.onboard("de")
    dialog.press(f"e:{event_id}")
    assert "Samstag, 12. Dezember" in dialog.text
    assert "00:00" not in dialog.text and "Bis:" not in dialog.text
    app.close()


def test_the_import_help_names_every_column(capsys: pytest.CaptureFixture[str]) -> None:
    from db.imports import CSV_COLUMNS, OPTIONAL_COLUMNS

    with pytest.raises(SystemExit):
        main(["import", "--help"])
    out = capsys.readouterr().out
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for column in (*CSV_COLUMNS, *OPTIONAL_COLUMNS):
        assert column in out
        assert f"`{column}`" in readme
    assert "--prune" in out and "--dry-run" in out and "semicolon" in out


def test_imported_items_alert_followers_once_even_after_the_alert_tick_passed(
    in_folder: Path, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.jobs import queue_new_item_alerts
    from db.models import Organisation, Subscription, SubscriptionKind, User

    app = App(make_settings(in_folder))  # the real clock, as the command uses
    Dialog(app.conversation, user="carla", locale_hint="de").onboard("de")
    later = datetime.now(UTC) + timedelta(hours=1)
    with session_scope(app.engine) as session:
        carla = session.exec(select(User).where(User.external_id == "carla")).one()
        carla.alert_mode = "instant"
        asz = session.exec(select(Organisation).where(Organisation.slug == "asz")).one()
        session.add(
            Subscription(
                user_id=carla.id,
                kind=SubscriptionKind.ORGANISATION,
                target_id=asz.id,
                created_at=datetime.now(UTC),
            )
        )
        queue_new_item_alerts(session, now=datetime.now(UTC), settings=app.settings)
        # the running bot's tick passes the import's publication time before the import commits
        queue_new_item_alerts(session, now=later, settings=app.settings)
    sheet = tmp_path / "offers.csv"
    sheet.write_text(CSV, encoding="utf-8")  # one offer of asz, one of ehrenamt-kl
    assert main(["import", str(sheet)]) == 0

    def alerts() -> int:
        with session_scope(app.engine) as session:
            rows = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "alert")).all()
            return len(rows)

    assert alerts() == 1
    with session_scope(app.engine) as session:
        queue_new_item_alerts(session, now=later + timedelta(minutes=1), settings=app.settings)
    assert main(["import", str(sheet)]) == 0
    assert alerts() == 1
    app.close()


def test_a_repeated_uid_is_imported_once_and_an_empty_feed_is_not_pruned(
    in_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: FakeClock
) -> None:
    feed = tmp_path / "feed.ics"
    master = "UID:r@x\nSUMMARY:Treff\nDTSTART:20261210T170000Z\nRRULE:FREQ=WEEKLY"
    moved = "UID:r@x\nSUMMARY:Treff\nRECURRENCE-ID:20261217T170000Z\nDTSTART:20261218T170000Z"
    feed.write_bytes(_feed(master, moved))
    for _ in range(2):
        assert main(["import", str(feed), "--org", "asz"]) == 0
    out = capsys.readouterr().out
    assert "0 new, 0 updated, 1 unchanged" in out and "skipped: event 2 repeats the UID r@x" in out
    app = App(make_settings(in_folder), clock=clock)
    with session_scope(app.engine) as session:
        treff = session.exec(select(Event).where(Event.source_id == "ics:r@x")).one()
        assert treff.starts_at.day == 10
    feed.write_bytes(_feed())
    assert main(["import", str(feed), "--org", "asz", "--prune"]) == 2
    assert "the feed has no events; --prune would archive all" in capsys.readouterr().err
    with session_scope(app.engine) as session:
        assert session.exec(select(Event).where(Event.source_id == "ics:r@x")).one().status == (
            "published"
        )
    app.close()
