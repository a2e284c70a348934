"""PostgreSQL connections wait a bounded time: a lock held elsewhere means "try again", not a stall.

These need TEST_DATABASE_URL (`bash .ci/postgres` starts a server and prints one) and are skipped
without it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from bot.app import App
from bot.clock import FakeClock
from bot.config import load_settings
from db.engine import make_engine
from tests.conftest import START
from tests.dialog import Dialog

TRY_AGAIN = "Please try again in a few minutes."


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url, lock_timeout_ms=1234, statement_timeout_ms=300)
    yield engine
    engine.dispose()


def setting(engine: Engine, name: str) -> str:
    with engine.connect() as connection:
        return str(connection.execute(text(f"SHOW {name}")).scalar())


def test_every_connection_carries_the_timeouts(engine: Engine) -> None:
    assert setting(engine, "lock_timeout") == "1234ms"
    assert setting(engine, "statement_timeout") == "300ms"
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        connection.rollback()  # a rollback does not take them back
        assert connection.execute(text("SHOW lock_timeout")).scalar() == "1234ms"
    defaults = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        assert setting(defaults, "lock_timeout") == "5s"
        assert setting(defaults, "statement_timeout") == "30s"
    finally:
        defaults.dispose()


def test_the_pool_is_sized_by_the_settings(pg_url: str) -> None:
    from bot.app import App
    from bot.clock import FakeClock
    from tests.conftest import START, make_settings

    app = App(
        make_settings(pg_url, database_pool_size=2, database_max_overflow=1),
        clock=FakeClock(START),
    )
    try:
        pool = app.engine.pool
        held = [app.engine.connect() for _ in range(3)]
        assert (pool.size(), pool.checkedout(), pool.overflow()) == (2, 3, 1)  # type: ignore[attr-defined]
        for connection in held:
            connection.close()
    finally:
        app.close()
    defaults = make_engine(pg_url)
    try:
        assert defaults.pool.size() == 5  # type: ignore[attr-defined]
    finally:
        defaults.dispose()


def test_a_long_statement_is_cancelled(engine: Engine) -> None:
    started = time.monotonic()
    with pytest.raises(OperationalError), engine.connect() as connection:
        connection.execute(text("SELECT pg_sleep(5)"))
    assert time.monotonic() - started < 3
    assert setting(engine, "statement_timeout") == "300ms", "the pool hands out a working one"


def test_a_dropped_connection_is_replaced_before_use(engine: Engine, pg_admin: Engine) -> None:
    with engine.connect() as connection:
        first = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    with pg_admin.connect() as admin:  # the server drops the pooled connection
        assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar()
    with engine.connect() as connection:
        second = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    assert second != first


def test_a_locked_table_makes_the_user_hear_try_again(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        _env_file=None, database_url=pg_url, telegram_bot_token=None, flood_burst=1000
    )
    assert settings.database_lock_timeout_ms == 5000  # the defaults, as an operator gets them
    app = App(settings, clock=FakeClock(START))
    blocker = make_engine(pg_url)
    try:
        app.load_demo(only_if_empty=True)
        alice = Dialog(app.conversation, user="alice", locale_hint="en")
        alice.onboard("en")
        assert "Volunteer offers" in " ".join(alice.labels)
        with blocker.connect() as other:
            other.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            alice.say("/menu")
            waited = time.monotonic() - started
            assert TRY_AGAIN in alice.text
            assert 4 < waited < 8, f"answered after {waited:.1f} s"
            assert "LockNotAvailable" in caplog.text  # psycopg's error, an OperationalError
            other.rollback()  # the lock is released
        alice.say("/menu")
        assert TRY_AGAIN not in alice.text
        assert "Volunteer offers" in " ".join(alice.labels)
    finally:
        blocker.dispose()
        app.close()
