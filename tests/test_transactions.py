"""Transactions mean what they say: a rolled-back update leaves no row, savepoints included."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.app import App
from db.engine import session_scope
from db.models import OutboxMessage, User
from db.outbox import enqueue

pytestmark = pytest.mark.both_databases


class Boom(Exception):
    pass


def test_an_outbox_row_written_in_a_savepoint_is_rolled_back_with_the_update(app: App) -> None:
    now = app.clock.now()
    with session_scope(app.engine) as session:
        user = User(transport="telegram", external_id="4711", created_at=now, last_seen_at=now)
        session.add(user)
    with pytest.raises(Boom), session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.external_id == "4711")).one()
        # enqueue writes inside a SAVEPOINT (begin_nested); the update then fails.
        assert enqueue(session, user=user, kind="help_reply", dedupe_key="k1", payload={}, now=now)
        raise Boom
    with session_scope(app.engine) as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == "k1")).all()
    assert rows == []


def test_a_committed_savepoint_write_stays(app: App) -> None:
    now = app.clock.now()
    with session_scope(app.engine) as session:
        user = User(transport="telegram", external_id="4712", created_at=now, last_seen_at=now)
        session.add(user)
        session.flush()
        enqueue(session, user=user, kind="help_reply", dedupe_key="k2", payload={}, now=now)
    with session_scope(app.engine) as session:
        assert session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == "k2")).one()


def test_database_errors_never_carry_what_people_typed(app: App) -> None:
    # On PostgreSQL the server's own DETAIL names the duplicate key's value; the engine drops it.
    now = app.clock.now()
    secret = "my-private-words-4711"
    with session_scope(app.engine) as session:
        user = User(transport="telegram", external_id="4713", created_at=now, last_seen_at=now)
        session.add(user)
        session.flush()
        enqueue(session, user=user, kind="help_reply", dedupe_key=secret, payload={}, now=now)
    # The same dedupe key again, inserted directly: the database refuses it, and the error
    # (which is what gets logged) shows the statement but not the values.
    with pytest.raises(IntegrityError) as refused, session_scope(app.engine) as session:
        session.add(
            OutboxMessage(
                user_id=user.id,
                transport="telegram",
                kind="help_reply",
                dedupe_key=secret,
                payload={"text": secret},
                next_attempt_at=now,
                created_at=now,
            )
        )
    assert secret not in str(refused.value)
    assert "INSERT INTO outbox" in str(refused.value)
