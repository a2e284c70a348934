"""Delivery is handed over on both databases: the lock dies with its holder, a row is claimed once.

The SQLite half runs everywhere; the PostgreSQL half runs against the real server named by
TEST_DATABASE_URL (`bash .ci/postgres`), and is skipped without one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.ownership import hold
from db.engine import make_engine, session_scope
from db.locks import owner_lock
from db.models import OutboxMessage, OutboxStatus, User
from db.outbox import claim_due
from tests.test_ownership import Recorder

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        from db import migrate

        url = f"sqlite:///{tmp_path / 'bot.db'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url
    else:
        yield request.getfixturevalue("pg_url")


def _queue(engine: Engine, count: int) -> None:
    with session_scope(engine) as session:
        user = User(transport="telegram", external_id="1", created_at=NOW, last_seen_at=NOW)
        session.add(user)
        session.flush()
        session.add_all(
            OutboxMessage(
                user_id=user.id,
                transport="telegram",
                kind="reminder",
                dedupe_key=f"k{n}",
                payload={},
                next_attempt_at=NOW,
                created_at=NOW,
            )
            for n in range(count)
        )


def test_two_claimers_never_take_the_same_row(database_url: str) -> None:
    first, second = make_engine(database_url), make_engine(database_url)
    try:
        _queue(first, 10)
        with session_scope(first) as a:
            taken_a = claim_due(a, transport="telegram", now=NOW, limit=6)
            # The second claims while the first has not committed: it may wait (SQLite) or
            # find the rows changed (PostgreSQL); either way it must not get them too.
        with session_scope(second) as b:
            taken_b = claim_due(b, transport="telegram", now=NOW, limit=10)
        assert len(taken_a) == 6 and len(taken_b) == 4
        assert not set(taken_a) & set(taken_b)
        with session_scope(first) as session:
            statuses = session.exec(text("SELECT status FROM outbox")).scalars().all()  # type: ignore[call-overload]
        assert set(statuses) == {OutboxStatus.SENDING}
    finally:
        first.dispose()
        second.dispose()


def test_a_postgresql_claimer_passes_over_rows_another_holds_without_waiting(pg_url: str) -> None:
    # A short lock timeout: a claimer that waited for the other's row locks would fail here.
    first, second = make_engine(pg_url), make_engine(pg_url, lock_timeout_ms=1000)
    try:
        _queue(first, 10)
        with session_scope(first) as a:
            taken_a = claim_due(a, transport="telegram", now=NOW, limit=6)
            # The first has not committed: its six rows are locked, still `pending` to others.
            began = time.monotonic()
            with session_scope(second) as b:
                taken_b = claim_due(b, transport="telegram", now=NOW, limit=10)
            waited = time.monotonic() - began
        assert len(taken_a) == 6
        assert sorted(taken_b) == sorted(set(range(1, 11)) - set(taken_a))
        assert waited < 0.5, f"the second claimer waited {waited:.2f} s for the first one's rows"
    finally:
        first.dispose()
        second.dispose()


def test_concurrent_postgresql_claimers_never_get_the_same_rows(pg_url: str) -> None:
    rows, claimers = 300, 4
    engines = [make_engine(pg_url) for _ in range(claimers)]
    try:
        _queue(engines[0], rows)
        start = threading.Barrier(claimers)

        def claim_until_empty(engine: Engine) -> list[int]:
            mine: list[int] = []
            start.wait()
            while True:
                with session_scope(engine) as session:
                    ids = claim_due(session, transport="telegram", now=NOW, limit=7)
                    time.sleep(0.002)  # hold the locks a moment, as a sender's claim does
                if not ids:
                    return mine
                mine.extend(ids)

        with ThreadPoolExecutor(claimers) as pool:
            taken = list(pool.map(claim_until_empty, engines))
        every = [message_id for ids in taken for message_id in ids]
        assert len(every) == len(set(every)), "a row was claimed by two claimers"
        assert len(every) == rows
        assert all(taken), f"a claimer got nothing: {[len(ids) for ids in taken]}"
    finally:
        for engine in engines:
            engine.dispose()


async def test_delivery_is_taken_over_when_the_holder_dies(database_url: str) -> None:
    first, second = make_engine(database_url), make_engine(database_url)
    holder, heir = Recorder("first"), Recorder("second")
    lock = owner_lock(first, "delivery-telegram")
    holding = asyncio.create_task(hold(lock, holder, retry_seconds=0.05))
    try:
        await asyncio.wait_for(holder.running.wait(), 5)
        waiting = asyncio.create_task(
            hold(owner_lock(second, "delivery-telegram"), heir, retry_seconds=0.05)
        )
        await asyncio.sleep(0.3)
        assert heir.events == [], "only one process delivers at a time"
        # The holder dies without a word: its lock goes with it (the file is closed, or the
        # server ends its session), and nothing of its own runs any more.
        holding.cancel()
        await asyncio.gather(holding, return_exceptions=True)
        await asyncio.wait_for(heir.running.wait(), 5)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
    finally:
        first.dispose()
        second.dispose()


async def test_a_postgresql_holder_whose_session_ends_stops_and_the_heir_takes_over(
    pg_url: str,
) -> None:
    first, second = make_engine(pg_url), make_engine(pg_url)
    holder, heir = Recorder("first"), Recorder("second")
    lock = owner_lock(first, "delivery-signal")
    holding = asyncio.create_task(hold(lock, holder, retry_seconds=0.05))
    try:
        await asyncio.wait_for(holder.running.wait(), 5)
        waiting = asyncio.create_task(
            hold(owner_lock(second, "delivery-signal"), heir, retry_seconds=0.05)
        )
        # The server ends the holder's session (a restart, a network cut, an admin).
        with second.connect() as connection:
            connection.execute(
                text(
                    # This test's database only: other tests hold advisory locks meanwhile.
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() "
                    "AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
            connection.commit()
        await asyncio.wait_for(heir.running.wait(), 5)
        for _ in range(100):  # it notices at its next check of the lock
            if "stop owner=False" in holder.events:
                break
            await asyncio.sleep(0.05)
        assert "stop owner=False" in holder.events, "the old holder stopped sending"
        waiting.cancel()
        holding.cancel()
        await asyncio.gather(waiting, holding, return_exceptions=True)
    finally:
        first.dispose()
        second.dispose()
