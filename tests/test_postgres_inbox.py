"""Updates in hand on a shared PostgreSQL inbox: each belongs to one live process at a time.

Two `App`s on one database stand for two processes (each its own engine, so its own sessions
and advisory locks). Closing an inbox's claims is what a kill -9 does to them: the server ends
the session and its locks with it.

These need TEST_DATABASE_URL (`bash .ci/postgres`) and are skipped without it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.inbox import Fetched, Inbox
from db.engine import session_scope
from db.inbox import finish
from tests.conftest import START, make_settings


@pytest.fixture
def two(pg_url: str) -> Iterator[tuple[App, App]]:
    first = App(make_settings(pg_url), clock=FakeClock(START))
    second = App(make_settings(pg_url), clock=FakeClock(START))
    yield first, second
    first.close()
    second.close()


def update(update_id: int) -> Fetched:
    return Fetched(update_id, str(4000 + update_id), {"update_id": update_id, "message": {}})


async def test_no_process_takes_up_what_a_live_one_has_in_hand(two: tuple[App, App]) -> None:
    first, second = (Inbox(app.conversation, "telegram") for app in two)
    assert first.shared and second.shared
    assert await first.keep([update(1), update(2)], track_offset=False) == [1, 2]
    assert await second.left() == [], "the first process holds both"
    # Telegram posts update 2 again, and the proxy hands it to the second process.
    assert await second.keep([update(2), update(3)], track_offset=False) == [3]
    assert [left.update_id for left in await first.left()] == [], "nothing left by anyone"

    # The first process answers update 1; its row goes, then its claim.
    def forget_one() -> None:
        with session_scope(two[0].engine) as session:
            finish(session, transport="telegram", update_ids=[1])

    await two[0].conversation.run_db(forget_one)
    await first.let_go_finished()
    assert await second.left() == [], "an answered update is not taken up"

    first.close()  # killed: the server ends its session, and its claims with it
    taken = await second.left()
    assert [(left.update_id, left.payload is not None) for left in taken] == [(2, True)]
    assert await second.left() == [], "taken up once"
    second.close()


async def test_a_process_starting_takes_up_only_what_nobody_holds(two: tuple[App, App]) -> None:
    first, second = (Inbox(app.conversation, "telegram") for app in two)
    assert await first.keep([update(10)], track_offset=False) == [10]
    first.close()  # the first process died with update 10 in hand
    assert [left.update_id for left in await second.left()] == [10]
    again = Inbox(two[0].conversation, "telegram")  # the first process restarted
    assert await again.left() == [], "the second process has it in hand now"
    second.close()
    assert [left.update_id for left in await again.left()] == [10]
    again.close()
