"""Group commit: updates that wait together are answered in one transaction, and each gets the
answer it would have got alone, in its own language; one that fails costs the others nothing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bot.app import App
from bot.messages import Incoming, Reply
from db.engine import session_scope
from db.inbox import Fetched, store_fetched, was_handled
from db.models import ConversationState, InboxUpdate, User
from handlers import conversation as core
from handlers.batching import Batches
from tests.dialog import Dialog

pytestmark = pytest.mark.both_databases

PEOPLE = {"anna": "de", "rana": "ar", "olena": "uk"}


@pytest.fixture
def people(app: App) -> dict[str, Dialog]:
    dialogs = {name: Dialog(app.conversation, user=name, transport="telegram") for name in PEOPLE}
    for name, dialog in dialogs.items():
        dialog.locale_hint = PEOPLE[name]
        dialog.onboard(PEOPLE[name])
    return dialogs


@pytest.fixture
def commits(app: App) -> Iterator[list[int]]:
    counted: list[int] = []

    def count(_connection: object) -> None:
        counted.append(1)

    event.listen(app.engine, "commit", count)
    yield counted
    event.remove(app.engine, "commit", count)


def _press(name: str, action: str, update_id: int | None = None) -> Incoming:
    return Incoming("telegram", name, action=action, locale_hint=PEOPLE[name], update_id=update_id)


def _texts(replies: list[Reply]) -> list[str]:
    return [reply.text for reply in replies]


def _keep_updates(app: App, *update_ids: int) -> None:
    """Keep Telegram updates in the inbox, as the transport does before handling them."""
    with session_scope(app.engine) as session:
        store_fetched(
            session,
            transport="telegram",
            updates=[Fetched(n, "anna", {"update_id": n}) for n in update_ids],
            now=app.clock.now(),
        )


def _kept(app: App) -> set[int]:
    """The ids of the updates still in the inbox (not yet forgotten)."""
    with session_scope(app.engine) as session:
        return {row.update_id for row in session.exec(select(InboxUpdate)).all()}


def _screen(app: App, name: str) -> object:
    with session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.external_id == name)).one()
        state = session.get(ConversationState, user.id)
        return state.data.get("screen") if state is not None else None


def test_a_group_is_one_commit_and_each_gets_its_own_answer(
    app: App, people: dict[str, Dialog], commits: list[int]
) -> None:
    group = [_press("anna", "events"), _press("rana", "offers"), _press("olena", "help")]
    answers = app.conversation.handle_many(group)
    assert len(commits) == 1
    # The same presses alone, one transaction each, give the same answers.
    alone = [app.conversation.handle(incoming) for incoming in group]
    assert len(commits) == 4
    assert [_texts(a) for a in answers] == [_texts(a) for a in alone]
    assert answers[1][0].rtl and not answers[0][0].rtl  # Arabic is shown right-to-left
    screens = [_screen(app, name) for name in ("anna", "rana", "olena")]
    assert screens == ["events", "offers", "help"]


def test_one_that_fails_is_answered_alone_and_the_others_keep_what_they_did(
    app: App, people: dict[str, Dialog], monkeypatch: pytest.MonkeyPatch, commits: list[int]
) -> None:
    routed = core.Conversation._route

    def route(self: core.Conversation, ctx: core.Context) -> list[Reply]:
        if ctx.user.external_id == "rana":
            raise RuntimeError("a bug in one handler")
        return routed(self, ctx)

    monkeypatch.setattr(core.Conversation, "_route", route)
    answers = app.conversation.handle_many(
        [_press("anna", "events"), _press("rana", "events"), _press("olena", "offers")]
    )
    # Rolled back together, then each in a transaction of its own: two of them commit.
    assert len(commits) == 2
    sorry = app.conversation.translations.get("ar")._(
        "Sorry, something went wrong on my side. Please try again, or send /menu."
    )
    assert len(answers[1]) == 1 and sorry in answers[1][0].text
    assert _texts(answers[0]) == _texts(app.conversation.handle(_press("anna", "events")))
    assert [_screen(app, name) for name in ("anna", "olena")] == ["events", "offers"]
    assert _screen(app, "rana") != "events"


def test_a_database_that_cannot_be_written_tells_each_to_try_later_in_their_language(
    app: App, people: dict[str, Dialog], monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("UPDATE users", {}, Exception("database is locked"))

    monkeypatch.setattr(core, "touch_user", locked)
    answers = app.conversation.handle_many([_press("anna", "events"), _press("rana", "events")])
    for answer, locale in zip(answers, ("de", "ar"), strict=True):
        later = app.conversation.translations.get(locale)._(
            "Sorry, I cannot answer right now. Please try again in a few minutes."
        )
        assert len(answer) == 1 and later in answer[0].text


class Cancelled(Exception):
    """What psycopg raises for a statement past statement_timeout (SQLSTATE 57014)."""

    sqlstate = "57014"


def test_a_statement_too_slow_for_one_fails_only_that_one(
    app: App, people: dict[str, Dialog], monkeypatch: pytest.MonkeyPatch
) -> None:
    touched = core.touch_user

    def slow_for_rana(session: object, found: object, **kwargs: object) -> object:
        if kwargs["external_id"] == "rana":
            raise OperationalError("SELECT", {}, Cancelled("canceling statement"))
        return touched(session, found, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(core, "touch_user", slow_for_rana)
    answers = app.conversation.handle_many(
        [_press("anna", "events"), _press("rana", "events"), _press("olena", "offers")]
    )
    later = app.conversation.translations.get("ar")._(
        "Sorry, I cannot answer right now. Please try again in a few minutes."
    )
    assert len(answers[1]) == 1 and later in answers[1][0].text
    assert [_screen(app, name) for name in ("anna", "olena")] == ["events", "offers"]


def test_answered_updates_are_forgotten_with_the_next_commit_or_noted_again(
    app: App, people: dict[str, Dialog], monkeypatch: pytest.MonkeyPatch
) -> None:
    _keep_updates(app, 1, 2, 3)
    conversation = app.conversation
    conversation.handle_many([_press("anna", "events", 1), _press("rana", "events", 2)])
    with session_scope(app.engine) as session:
        assert was_handled(session, transport="telegram", update_id=1)
    conversation.answered("telegram", 1)
    conversation.answered("telegram", 2)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    # The transaction that carried the forgetting failed: both are noted again, not lost
    # (lost, a restart would send their answers once more).
    monkeypatch.setattr(core, "touch_user", broken)
    conversation.handle(_press("anna", "events", 3))
    assert conversation.has_answered
    monkeypatch.undo()
    conversation.handle_many([_press("olena", "events"), _press("anna", "menu")])
    assert not conversation.has_answered
    assert _kept(app) == {3}


def test_answers_that_went_out_while_a_batch_ran_are_forgotten_with_its_commit(
    app: App, people: dict[str, Dialog], monkeypatch: pytest.MonkeyPatch
) -> None:
    _keep_updates(app, 1, 2)
    conversation = app.conversation
    routed = core.Conversation._route

    def route(self: core.Conversation, ctx: core.Context) -> list[Reply]:
        # Meanwhile, on the event loop, the answer to update 1 went out.
        conversation.answered("telegram", 1)
        return routed(self, ctx)

    monkeypatch.setattr(core.Conversation, "_route", route)
    conversation.handle_many([_press("rana", "events"), _press("olena", "events")])
    # Not left for the next transaction: a kill before it would send that answer again.
    assert not conversation.has_answered
    assert _kept(app) == {2}


def test_a_group_message_is_answered_without_the_database(
    app: App, people: dict[str, Dialog], commits: list[int]
) -> None:
    group = Incoming(
        "telegram", "anna", text="hallo", locale_hint="de", chat_kind="group", chat_key="-5"
    )
    [told] = app.conversation.handle_many([group])
    assert told and not commits


# -- the batches themselves --------------------------------------------------------------------


class Recorder:
    """`many` for Batches: records each call's items, answers each item doubled."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.fail_on: int | None = None

    def __call__(self, items: list[int]) -> list[int]:
        self.calls.append(items)
        if self.fail_on in items:
            raise ValueError(f"cannot do {self.fail_on}")
        return [item * 2 for item in items]


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown(wait=True)


async def _while_busy(executor: ThreadPoolExecutor, *awaitables: object) -> list[object]:
    """Run the awaitables while the executor's one thread is busy, then free it."""
    free = threading.Event()
    executor.submit(free.wait)
    tasks = [asyncio.ensure_future(a) for a in awaitables]  # type: ignore[call-overload]
    await asyncio.sleep(0.05)  # every one of them is waiting now
    free.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_what_waits_together_is_run_together_and_each_gets_its_result(
    executor: ThreadPoolExecutor,
) -> None:
    many = Recorder()
    batches: Batches[int, int] = Batches(executor, many, limit=3)
    assert await batches.run(7) == 14  # alone, at once
    results = await _while_busy(executor, *(batches.run(n) for n in range(5)))
    assert results == [0, 2, 4, 6, 8]
    assert many.calls == [[7], [0, 1, 2], [3, 4]]


async def test_a_failed_run_fails_its_callers_only(executor: ThreadPoolExecutor) -> None:
    many = Recorder()
    many.fail_on = 1
    batches: Batches[int, int] = Batches(executor, many, limit=2)
    results = await _while_busy(executor, *(batches.run(n) for n in range(4)))
    assert [type(r) for r in results[:2]] == [ValueError, ValueError]
    assert results[2:] == [4, 6]


async def test_a_caller_that_stops_waiting_costs_the_others_nothing(
    executor: ThreadPoolExecutor,
) -> None:
    many = Recorder()
    batches: Batches[int, int] = Batches(executor, many)
    free = threading.Event()
    executor.submit(free.wait)
    first, second = asyncio.ensure_future(batches.run(1)), asyncio.ensure_future(batches.run(2))
    await asyncio.sleep(0.05)
    first.cancel()
    free.set()
    assert await second == 4
    assert first.cancelled() and many.calls == [[1, 2]]


async def test_nothing_waits_forever_once_the_executor_is_shut_down(
    executor: ThreadPoolExecutor,
) -> None:
    batches: Batches[int, int] = Batches(executor, Recorder())
    executor.shutdown(wait=True)
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(batches.run(1), timeout=5)
