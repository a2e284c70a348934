import asyncio
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TextIO

import pytest
from sqlmodel import select

from bot.app import App
from bot.messages import Button, Reply
from bot.runner import delivery_lock_name, serve
from bot.transports.base import TemporaryFailure
from bot.transports.console import ConsoleTransport
from db.engine import session_scope
from db.models import OutboxMessage, OutboxStatus, User
from db.outbox import claim_due, enqueue, release_claims

pytestmark = pytest.mark.both_databases

REPORT = "Your announcement has gone out: {n} delivered"


async def test_console_chat_numbers_press_buttons(app: App) -> None:
    stdin = io.StringIO("2\n1\n2\n/quit\n")
    stdout = io.StringIO()
    await ConsoleTransport(app.conversation, stdin=stdin, stdout=stdout, locale_hint="en").run()
    out = stdout.getvalue()
    assert "1) Deutsch" in out and "2) English" in out
    assert "I will write to you in English." in out
    assert "upcoming events." in out


async def test_console_chat_ends_at_end_of_input(app: App) -> None:
    stdout = io.StringIO()
    await ConsoleTransport(app.conversation, stdin=io.StringIO(""), stdout=stdout).run()
    assert "1) Deutsch" in stdout.getvalue()


@contextmanager
def typing() -> Iterator[tuple[TextIO, TextIO]]:
    """A pipe as the terminal: the chat reads its end, the test types into the other."""
    read, write = os.pipe()
    with os.fdopen(read) as stdin, os.fdopen(write, "w") as keyboard:
        yield stdin, keyboard


def type_line(keyboard: TextIO, line: str) -> None:
    keyboard.write(f"{line}\n")
    keyboard.flush()


async def until(predicate, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def _person(app: App, name: str) -> User:
    now = app.clock.now()
    with session_scope(app.engine) as session:
        user = User(
            transport="console",
            external_id=name,
            locale="en",
            consent_at=now,
            created_at=now,
            last_seen_at=now,
        )
        session.add(user)
        session.flush()
        session.expunge(user)
        return user


def _queue_report(app: App, user: User, delivered: int, *, status: str = "pending") -> None:
    with session_scope(app.engine) as session:
        enqueue(
            session,
            user=user,
            kind="broadcast_report",
            dedupe_key=f"report:{user.external_id}:{delivered}",
            payload={"delivered": delivered, "blocked": 0, "failed": 0},
            now=app.clock.now(),
            status=status,
        )


def _statuses(app: App) -> dict[str, list[str]]:
    with session_scope(app.engine) as session:
        rows = session.exec(
            select(User.external_id, OutboxMessage.status)
            .join(User, User.id == OutboxMessage.user_id)
            .order_by(OutboxMessage.id)
        ).all()
    found: dict[str, list[str]] = {}
    for name, status in rows:
        found.setdefault(name, []).append(str(status))
    return found


async def test_a_notice_appears_under_the_prompt_with_the_prompt_again(app: App) -> None:
    stdout = io.StringIO()
    with typing() as (stdin, keyboard):
        chat = ConsoleTransport(
            app.conversation, user_key="rita", stdin=stdin, stdout=stdout, locale_hint="en"
        )
        session = asyncio.create_task(chat.run())
        await until(lambda: stdout.getvalue().endswith("\n> "))
        notice = Reply("Reminder: the Demokratie-Café", buttons=((Button("Still going", "x"),),))
        await chat.send("rita", [notice])
        assert stdout.getvalue().endswith(
            "\n> \nReminder: the Demokratie-Café\n   1) Still going\n> "
        )
        type_line(keyboard, "/quit")
        await asyncio.wait_for(session, 10)


async def test_a_notice_waits_for_the_greeting_of_a_session(app: App) -> None:
    """Messages that waited for the session come after the greeting's menu, whose numbers
    would otherwise replace theirs."""
    stdout = io.StringIO()
    with typing() as (stdin, keyboard):
        chat = ConsoleTransport(
            app.conversation, user_key="rita", stdin=stdin, stdout=stdout, locale_hint="en"
        )
        # As bot/runner.py starts them: the session first, its delivery right after.
        session = asyncio.create_task(chat.run())
        await asyncio.create_task(chat.send("rita", [Reply("An answer from the ASZ")]))
        out = stdout.getvalue()
        assert out.index("1) Deutsch") < out.index("An answer from the ASZ")
        type_line(keyboard, "/quit")
        await asyncio.wait_for(session, 10)


async def test_the_greeting_is_in_the_persons_language_and_says_when_open_elsewhere(
    app: App,
) -> None:
    stdout = io.StringIO()
    chat = ConsoleTransport(
        app.conversation,
        user_key="olena",
        locale_hint="uk",
        stdin=io.StringIO(""),
        stdout=stdout,
        open_elsewhere=True,
    )
    await chat.run()
    out = stdout.getvalue()
    assert "Чат у консолі як olena." in out
    assert "olena уже відкрито в іншому терміналі" in out


async def test_a_session_refuses_a_message_for_someone_else(app: App) -> None:
    chat = ConsoleTransport(app.conversation, user_key="rita", stdout=io.StringIO())
    with pytest.raises(TemporaryFailure):
        await chat.send("bob", [Reply("not for rita")])
    assert chat.stdout.getvalue() == ""


async def test_a_notice_for_a_terminal_that_is_gone_is_not_counted_as_shown(app: App) -> None:
    stdout = io.StringIO()
    chat = ConsoleTransport(app.conversation, user_key="rita", stdout=stdout)
    stdout.close()
    with pytest.raises(TemporaryFailure):
        await chat.send("rita", [Reply("Reminder: the Demokratie-Café")])


async def test_a_session_delivers_its_own_users_messages_and_nobody_elses(app: App) -> None:
    rita, bob = _person(app, "rita"), _person(app, "bob")
    _queue_report(app, rita, 3)
    _queue_report(app, bob, 4)
    # Claimed by a session that was killed: rita's next session shows it; bob's claim belongs
    # to bob's session (which may still be showing it), so rita's session leaves it alone.
    _queue_report(app, rita, 5, status=OutboxStatus.SENDING)
    _queue_report(app, bob, 6, status=OutboxStatus.SENDING)
    stdout = io.StringIO()
    with typing() as (stdin, keyboard):
        chat = ConsoleTransport(
            app.conversation, user_key="rita", stdin=stdin, stdout=stdout, locale_hint="en"
        )
        serving = asyncio.create_task(serve(app, [chat]))
        await until(
            lambda: (
                REPORT.format(n=3) in stdout.getvalue() and REPORT.format(n=5) in stdout.getvalue()
            )
        )
        await until(lambda: _statuses(app)["rita"] == [OutboxStatus.SENT] * 2)
        type_line(keyboard, "/quit")
        await asyncio.wait_for(serving, 20)
    out = stdout.getvalue()
    assert REPORT.format(n=4) not in out and REPORT.format(n=6) not in out
    assert "bob" not in out
    assert _statuses(app)["bob"] == [OutboxStatus.PENDING, OutboxStatus.SENDING]


def test_claims_and_releases_can_be_one_persons(app: App) -> None:
    rita, bob = _person(app, "rita"), _person(app, "bob")
    for n in range(3):
        _queue_report(app, rita, n)
        _queue_report(app, bob, 10 + n)
    now: datetime = app.clock.now()
    with session_scope(app.engine) as session:
        ritas = claim_due(session, transport="console", now=now, limit=10, recipient="rita")
        assert claim_due(session, transport="console", now=now, limit=1, recipient="bob")
    assert _statuses(app) == {
        "rita": [OutboxStatus.SENDING] * 3,
        "bob": [OutboxStatus.SENDING, OutboxStatus.PENDING, OutboxStatus.PENDING],
    }
    assert len(ritas) == 3
    with session_scope(app.engine) as session:
        assert release_claims(session, transport="console", recipient="bob") == 1
        assert release_claims(session, transport="console", recipient="nobody") == 0
    assert _statuses(app)["rita"] == [OutboxStatus.SENDING] * 3
    assert _statuses(app)["bob"] == [OutboxStatus.PENDING] * 3


def test_each_console_user_has_a_delivery_lock_of_their_own() -> None:
    assert delivery_lock_name("telegram") == "delivery-telegram"
    assert delivery_lock_name("console", "rita") == "delivery-console-rita"
    # A name that cannot stand in a file name is hashed, the same way in every process.
    odd = delivery_lock_name("console", "Ольга/../x")
    assert odd == delivery_lock_name("console", "Ольга/../x")
    assert "/" not in odd and odd.startswith("delivery-console~")
    assert odd != delivery_lock_name("console", "Ольга/../y")
