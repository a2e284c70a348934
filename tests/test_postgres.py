"""The bot on a real PostgreSQL server: migrations, the demo city and a conversation.

These need TEST_DATABASE_URL (`bash .ci/postgres` starts a server and prints one; .ci/run does
this) and are skipped without it. The last tests, about a missing driver, need no server.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, col, select

import db.models  # noqa: F401
from bot.app import App
from bot.cli import main
from bot.clock import FakeClock
from bot.config import Settings, load_settings
from db import migrate
from db.engine import DatabaseLocationError, make_engine, session_scope
from db.search import include_name
from tests.conftest import START, pg_create_database, pg_database_url, pg_drop_database
from tests.dialog import Dialog, run_table


def pg_settings(url: str) -> Settings:
    return load_settings(
        _env_file=None, database_url=url, telegram_bot_token=None, flood_burst=1000
    )


@pytest.fixture
def empty_engine(pg_admin_url: str, pg_admin: Engine) -> Iterator[Engine]:
    """An engine on a new PostgreSQL database without any tables."""
    name = pg_create_database(pg_admin)
    engine = make_engine(pg_database_url(pg_admin_url, name))
    yield engine
    engine.dispose()
    pg_drop_database(pg_admin, name)


@pytest.fixture
def pg_app(pg_url: str) -> Iterator[App]:
    """An app over a PostgreSQL database with the demo city in it."""
    application = App(pg_settings(pg_url), clock=FakeClock(START))
    application.migrate()
    application.load_demo(only_if_empty=True)
    yield application
    application.close()


def tables(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(
            connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            ).scalars()
        )


def test_migrations_build_exactly_the_models(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            migrate.head_revision()
        )
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": include_name}
        )
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []
    assert migrate.is_up_to_date(empty_engine)
    migrate.upgrade(empty_engine)  # twice is harmless


def test_migrations_go_down_to_nothing_and_up_again(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    everything = tables(empty_engine)
    assert {"users", "offers", "events", "outbox", "search_documents"} <= everything
    config = migrate.alembic_config(empty_engine)
    with empty_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert tables(empty_engine) == {"alembic_version"}
    migrate.upgrade(empty_engine)
    assert tables(empty_engine) == everything


def test_the_demo_city_loads(pg_url: str) -> None:
    app = App(pg_settings(pg_url), clock=FakeClock(START))
    try:
        app.migrate()
        report = app.load_demo(only_if_empty=True)
        assert report is not None
        assert report.organisations >= 3 and report.offers >= 10 and report.events >= 5
        assert app.load_demo(only_if_empty=True) is None, "a city is loaded once"
    finally:
        app.close()


def test_a_console_conversation(pg_app: App) -> None:
    dialog = Dialog(pg_app.conversation, user="alice", locale_hint="en-GB")
    run_table(
        dialog,
        [
            ("/start", ["Welcome!", "Choose your language:", "Deutsch", "العربية"]),
            ("2", ["I store your messenger ID", "Do you agree?", "I agree"]),
            ("1", ["I will write to you in English.", "Volunteer offers", "Upcoming events"]),
            ("@Volunteer offers", ["How would you like to look", "By topic", "By district"]),
            ("@By district", ["Choose a district:", "Innenstadt-West"]),
            ("@Innenstadt-West", ["volunteer offers in Innenstadt-West"]),
            ("/events", ["upcoming events.", "Page 1 of 2."]),
            ("@Next", ["Page 2 of 2."]),
            ("[e:1]", ["0 people are going.", "40 places left.", "Königstraße"]),
            ("@I'm going", ["you are going to", "I will remind you"]),
            ("@❌ Can't come", ["Give up your place at"]),
            ("1", ["1 person is going.", "39 places left."]),
            # Search runs as a portable LIKE here, not SQLite's full-text index.
            ("lesepatte", ["results for “lesepatte”", "Reading buddy"]),
            ("1", ["Reading buddy at the neighbourhood office", "Organisation:"]),
        ],
    )
    # The conversation lives in the database: another process over it knows alice.
    again = App(pg_app.settings, clock=FakeClock(START))
    try:
        run_table(
            Dialog(again.conversation, user="alice"),
            [("/start", ["Welcome back!"]), ("[e:1]", ["1 person is going.", "You are going."])],
        )
    finally:
        again.close()


# Without a server: what start-up says when the driver is missing.


def test_a_postgresql_url_without_a_driver_uses_psycopg() -> None:
    engine = make_engine("postgresql://bot@127.0.0.1:1/engagebot")  # does not connect yet
    assert engine.url.drivername == "postgresql+psycopg"
    assert make_engine("postgresql+psycopg://bot@127.0.0.1:1/x").url.drivername == (
        "postgresql+psycopg"
    )


def test_a_missing_driver_stops_start_up_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` fails as if not installed
    with pytest.raises(DatabaseLocationError, match=r"pip install -e '\.\[postgresql\]'"):
        make_engine("postgresql+psycopg://bot@127.0.0.1:1/engagebot")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot@127.0.0.1:1/engagebot")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("engagebot: DATABASE_URL names PostgreSQL"), err
    assert "psycopg" in err[0] and "pip install -e '.[postgresql]'" in err[0]


def test_imports_of_a_semicolon_csv_and_a_pruned_feed(pg_app: App) -> None:
    from db.imports import decode_csv, import_events_ics, import_offers_csv
    from db.models import Event, Offer
    from tests.test_cli_admin import EXCEL_CSV, _feed

    now = pg_app.clock.now()
    sheet = EXCEL_CSV.replace("Діти та молодь", "children-youth").encode("cp1252")
    day = "UID:day@x\nSUMMARY:Fest\nDTSTART;VALUE=DATE:20261212"
    other = "UID:o@x\nSUMMARY:Lesung\nDTSTART:20261207T180000Z"
    with session_scope(pg_app.engine) as session:
        assert import_offers_csv(session, text=decode_csv(sheet), now=now).created == 2
        feed = _feed(day, other)
        ics = import_events_ics(
            session, data=feed, now=now, tz=pg_app.settings.tz, organisation_slug="asz"
        )
        assert ics.created == 2
    with session_scope(pg_app.engine) as session:
        again = import_events_ics(
            session,
            data=_feed(day),
            now=now,
            tz=pg_app.settings.tz,
            organisation_slug="asz",
            prune=True,
        )
        assert (again.unchanged, again.archived) == (1, 1)
        events = {
            e.source_id: e
            for e in session.exec(select(Event).where(col(Event.source_id).startswith("ics:")))
        }
        assert events["ics:day@x"].all_day and events["ics:o@x"].status == "archived"
        assert session.exec(select(Offer).where(Offer.source_id == "xl-1")).one().title == (
            "Lesepaten für Grundschüler"
        )
