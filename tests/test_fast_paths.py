"""The shortcuts taken for speed behave exactly like the slow paths they replace."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlmodel import select

from bot.app import App
from bot.clock import FakeClock
from db import migrate
from db.engine import make_engine, session_scope
from db.models import ConversationState, OutboxMessage, OutboxStatus, User
from db.outbox import NewMessage, enqueue, enqueue_many
from db.queries import LAST_SEEN_PRECISION, get_or_create_user, user_and_state
from db.states import hold, store
from tests.dialog import Dialog

pytestmark = pytest.mark.both_databases


def test_the_up_to_date_check_agrees_with_alembic(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    script = ScriptDirectory.from_config(migrate.alembic_config(engine))
    assert migrate.head_revision() == script.get_current_head()
    assert not migrate.is_up_to_date(engine)  # a new database: Alembic runs
    migrate.upgrade(engine)
    assert migrate.is_up_to_date(engine)  # from now on starts skip Alembic
    migrate.upgrade(engine)


def _user(session, name: str, clock: FakeClock) -> User:
    user, _ = get_or_create_user(
        session, transport="console", external_id=name, now=clock.now(), language_hint=None
    )
    return user


def test_enqueue_many_queues_like_enqueue_and_skips_known_keys(app: App, clock: FakeClock) -> None:
    later = clock.now() + timedelta(hours=1)
    with session_scope(app.engine) as session:
        anna, borys = _user(session, "anna", clock), _user(session, "borys", clock)
        assert enqueue(
            session, user=anna, kind="broadcast", dedupe_key="k:1", payload={}, now=clock.now()
        )
        queued = enqueue_many(
            session,
            [
                NewMessage(anna, "broadcast", "k:1", {"n": 1}),  # queued before: skipped
                NewMessage(borys, "reminder", "k:2", {"n": 2}, event_id=7),
                NewMessage(borys, "reminder", "k:2", {"n": 99}),  # the same key again: once
                NewMessage(
                    anna,
                    "reminder",
                    "k:3",
                    {"n": 3},
                    not_before=later,
                    status=OutboxStatus.SKIPPED,
                    broadcast_id=5,
                ),
            ],
            now=clock.now(),
        )
        assert queued == {"k:2", "k:3"}
        assert enqueue_many(session, [], now=clock.now()) == set()
    with session_scope(app.engine) as session:
        rows = {row.dedupe_key: row for row in session.exec(select(OutboxMessage)).all()}
    assert set(rows) == {"k:1", "k:2", "k:3"}
    two, three = rows["k:2"], rows["k:3"]
    assert (two.user_id, two.kind, two.payload, two.event_id) == (borys.id, "reminder", {"n": 2}, 7)
    assert (two.status, two.attempts, two.next_attempt_at) == (OutboxStatus.PENDING, 0, clock.now())
    assert (three.status, three.next_attempt_at, three.broadcast_id) == (
        OutboxStatus.SKIPPED,
        later,
        5,
    )
    assert three.transport == "console" and three.created_at == clock.now()


def test_enqueue_many_goes_row_by_row_when_someone_else_was_faster(
    app: App, clock: FakeClock
) -> None:
    with session_scope(app.engine) as session:
        anna = _user(session, "anna", clock)
        session.commit()
        # A row with one of the keys that the key lookup cannot see yet (not flushed): the
        # multi-row insert then fails on the unique key, as when another process queued it.
        rival = OutboxMessage(
            user_id=anna.id or 0,
            transport="console",
            kind="broadcast",
            dedupe_key="k:2",
            payload={"rival": True},
            next_attempt_at=clock.now(),
            created_at=clock.now(),
        )
        with session.no_autoflush:
            session.add(rival)
            queued = enqueue_many(
                session,
                [NewMessage(anna, "broadcast", f"k:{n}", {"n": n}) for n in (1, 2, 3)],
                now=clock.now(),
            )
        assert queued == {"k:1", "k:3"}
    with session_scope(app.engine) as session:
        rows = {row.dedupe_key: row.payload for row in session.exec(select(OutboxMessage)).all()}
    assert rows == {"k:1": {"n": 1}, "k:2": {"rival": True}, "k:3": {"n": 3}}


def test_last_seen_is_written_hourly_and_a_returning_user_is_active_again(
    app: App, clock: FakeClock
) -> None:
    first = clock.now()
    with session_scope(app.engine) as session:
        user = _user(session, "anna", clock)
        user.active = False
    clock.advance(LAST_SEEN_PRECISION / 2)
    with session_scope(app.engine) as session:
        user = _user(session, "anna", clock)
        assert user.active and user.last_seen_at == first
    clock.advance(LAST_SEEN_PRECISION / 2)
    with session_scope(app.engine) as session:
        assert _user(session, "anna", clock).last_seen_at == clock.now()


def test_mark_sent_many_records_like_one_by_one_and_forgets_a_persons_words(
    app: App, clock: FakeClock
) -> None:
    from db.outbox import mark_sent_many

    with session_scope(app.engine) as session:
        anna, borys = _user(session, "anna", clock), _user(session, "borys", clock)
        enqueue_many(
            session,
            [
                NewMessage(anna, "broadcast", "s:1", {"broadcast_id": 1}),
                NewMessage(borys, "hr_answer", "s:2", {"request_id": 3, "text": "Gern!"}),
                NewMessage(borys, "broadcast", "s:3", {"broadcast_id": 1}),
            ],
            now=clock.now(),
        )
        ids = {row.dedupe_key: row.id for row in session.exec(select(OutboxMessage)).all()}
        anna_id, borys_id = anna.id, borys.id
    with session_scope(app.engine) as session:
        recipients = mark_sent_many(session, message_ids=[ids["s:1"], ids["s:2"]], now=clock.now())
    assert recipients == {ids["s:1"]: anna_id, ids["s:2"]: borys_id}
    with session_scope(app.engine) as session:
        rows = {row.dedupe_key: row for row in session.exec(select(OutboxMessage)).all()}
        for key in ("s:1", "s:2"):
            assert rows[key].status == OutboxStatus.SENT
            assert rows[key].attempts == 1
            assert rows[key].sent_at is not None and rows[key].claimed_at is None
        assert rows["s:2"].payload == {"request_id": 3}, "the answer's words are gone"
        assert rows["s:1"].payload == {"broadcast_id": 1}
        assert rows["s:3"].status == OutboxStatus.PENDING, "only the rows named"


def _state_writes(app: App) -> list[str]:
    """Start recording the statements that write conversation states; return the record."""
    written: list[str] = []

    @event.listens_for(app.engine, "before_cursor_execute")
    def note(_conn, _cursor, statement: str, *_args: object) -> None:
        if "conversation_states" in statement and statement.lstrip().upper().startswith(
            ("UPDATE", "INSERT")
        ):
            written.append(statement.split()[0].upper())

    return written


def _stored_state(app: App, user: str) -> ConversationState:
    with session_scope(app.engine) as session:
        found = session.exec(
            select(ConversationState).join(User).where(User.external_id == user)
        ).one()
        session.expunge(found)
        return found


@pytest.mark.parametrize("locale", ["de", "ar"])
def test_an_update_writes_the_state_once_and_an_unchanged_state_not_at_all(
    app: App, locale: str
) -> None:
    dialog = Dialog(app.conversation, user="held")
    written = _state_writes(app)
    dialog.onboard(locale)
    assert written[0] == "INSERT", "a new person's state is written with them"
    written.clear()
    # A search changes the state, reads the database, and changes it again: one write.
    dialog.say("Deutsch lernen")
    assert written == ["UPDATE"]
    stored = _stored_state(app, "held")
    assert stored.data.get("screen") and stored.menu == [
        b.action for r in dialog.last for b in r.flat_buttons()
    ]
    # The same screen again: nothing of the state changes, so nothing is written.
    dialog.press("events")
    written.clear()
    dialog.press("events")
    assert written == []


def test_a_held_state_changed_in_place_is_still_written(app: App, clock: FakeClock) -> None:
    dialog = Dialog(app.conversation, user="inplace")
    dialog.onboard("en")
    with session_scope(app.engine) as session:
        user, state = user_and_state(session, transport="console", external_id="inplace")
        assert user is not None
        state, held = hold(session, state, user_id=user.id or 0)
        state.data["flow"] = {"note": "changed in place"}
        assert store(session, state, held, now=clock.now())
    assert _stored_state(app, "inplace").data["flow"] == {"note": "changed in place"}
