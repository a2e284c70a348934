"""A PostgreSQL database switched read-only is a database that is away, not a bug.

An operator's `ALTER DATABASE ... SET default_transaction_read_only = on`, or a failover that
leaves the bot on a hot standby, makes every write fail with SQLSTATE 25006
(read_only_sql_transaction), which psycopg reports as an InternalError. People must hear "try
again" in their language, a queued message must stay queued, and all must work again once the
database can be written. The switch is made the way a failover makes it: the server drops the
bot's connections, and the ones the pool opens next are read-only.

These need TEST_DATABASE_URL (`bash .ci/postgres`) and are skipped without it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bot.app import App
from bot.clock import FakeClock
from db.engine import session_scope
from db.models import OutboxMessage, OutboxStatus, User
from db.outbox import claim_due, enqueue
from tests.conftest import START, make_settings
from tests.dialog import Dialog

SORRY = "Sorry, I cannot answer right now. Please try again in a few minutes."


@pytest.fixture
def app(pg_demo_url: str) -> Iterator[App]:
    application = App(make_settings(pg_demo_url), clock=FakeClock(START))
    yield application
    application.close()


def switch_read_only(admin: Engine, url: str, on: bool) -> None:
    """Make the database read-only (or writable) for new sessions and drop the open ones."""
    name = make_url(url).database
    with admin.connect() as connection:
        value = "on" if on else "off"
        setting = f"SET default_transaction_read_only = {value}"
        connection.execute(text(f"ALTER DATABASE {name} {setting}"))
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )


def sorry_in(app: App, locale: str) -> str:
    return app.translations.get(locale)._(SORRY)


def test_a_read_only_database_is_unavailable_and_nothing_is_lost(
    app: App, pg_demo_url: str, pg_admin: Engine
) -> None:
    people = {locale: Dialog(app.conversation, user=f"ro-{locale}") for locale in ("de", "ar")}
    for locale, person in people.items():
        person.onboard(locale)
    with session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.external_id == "ro-de")).one()
        assert enqueue(
            session,
            user=user,
            kind="broadcast",
            dedupe_key="read-only-test",
            payload={"text": "Am Samstag ist Stadtputz."},
            now=START,
        )
        queued_id = session.exec(
            select(OutboxMessage.id).where(OutboxMessage.dedupe_key == "read-only-test")
        ).one()

    switch_read_only(pg_admin, pg_demo_url, on=True)
    try:
        for locale, person in people.items():
            person.say("/menu")
            assert sorry_in(app, locale) in person.text, (locale, person.text)
        assert sorry_in(app, "ar") != SORRY and sorry_in(app, "de") != SORRY
        stranger = Dialog(app.conversation, user="ro-new", locale_hint="uk")
        stranger.say("/start")
        assert sorry_in(app, "uk") in stranger.text
        # A sender cannot claim the queued message: the outbox says "try later", the row stays.
        with pytest.raises(OperationalError), session_scope(app.engine) as session:
            claim_due(session, transport="console", now=START, limit=10)
    finally:
        switch_read_only(pg_admin, pg_demo_url, on=False)

    with session_scope(app.engine) as session:
        row = session.get(OutboxMessage, queued_id)
        assert row is not None and row.status == OutboxStatus.PENDING
        assert session.exec(select(User).where(User.external_id == "ro-new")).first() is None
    for locale, person in people.items():
        person.say("/menu")
        assert SORRY not in person.text and sorry_in(app, locale) not in person.text
        assert person.labels, f"no menu in {locale} after the database came back"
    stranger.say("/start")
    assert stranger.text != sorry_in(app, "uk")
