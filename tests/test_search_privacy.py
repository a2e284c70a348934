"""Privacy of searches: what people type is answered and forgotten; the query of a search with
several pages is kept only for its pager, for a day at most, and never shown by /mydata."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import inspect, text

from bot.app import App
from bot.clock import FakeClock
from bot.scheduler import Jobs
from tests.dialog import Dialog
from tests.test_search import results, speaker

pytestmark = pytest.mark.both_databases


def times_stored(app: App, typed: str) -> int:
    """Count the rows of every table that contain `typed`, in any letter case, also as JSON
    writes it with escapes (SQLite's JSON columns)."""
    needles = {typed.casefold(), json.dumps(typed)[1:-1].casefold()}
    found = 0
    with app.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'select * from "{table}"')):
                found += any(
                    needle in json.dumps(value, ensure_ascii=False, default=str).casefold()
                    for value in row
                    for needle in needles
                )
    return found


def my_data(dialog: Dialog) -> str:
    dialog.say("/mydata")
    (attachment,) = [a for reply in dialog.last for a in reply.attachments]
    return attachment.content.decode()


# Queries with one page of results on both databases.
ONE_PAGE = [
    ("de", "lesepatte"),
    ("uk", "домашніх завдань"),
    ("ar", "الواجبات المدرسيةة"),
    ("fa", "کمک در تکالیف"),  # "help with homework"; "help for children" finds 16 now
]


@pytest.mark.parametrize(("locale", "query"), ONE_PAGE)
def test_a_search_is_answered_and_forgotten(app: App, locale: str, query: str) -> None:
    dialog = speaker(app, locale)
    before = times_stored(app, query)
    dialog.say(query)
    assert query in dialog.text and results(dialog), "found"
    assert "▶" not in "".join(dialog.labels), "one page"
    assert times_stored(app, query) == before, "nothing of the query is stored"
    assert query not in my_data(dialog)


@pytest.mark.parametrize("locale", ["de", "uk", "ar", "fa"])
def test_paging_keeps_the_query_only_until_the_next_other_step(app: App, locale: str) -> None:
    dialog = speaker(app, locale)
    before = times_stored(app, "Kaiserslautern")
    dialog.say("Kaiserslautern")
    first = results(dialog)
    assert len(first) == 5, "several pages"
    assert times_stored(app, "Kaiserslautern") == before + 1, "kept for the pager"
    dialog.tap("▶")
    assert results(dialog) and not set(results(dialog)) & set(first)
    assert "Kaiserslautern" not in my_data(dialog), "/mydata ends the paging and does not show it"
    assert times_stored(app, "Kaiserslautern") == before
    dialog.say("Kaiserslautern")
    dialog.say("/menu")
    assert times_stored(app, "Kaiserslautern") == before, "leaving the results forgets the query"


def test_a_query_kept_for_paging_is_gone_after_a_day(app: App, clock: FakeClock) -> None:
    dialog = speaker(app, "de")
    before = times_stored(app, "Kaiserslautern")
    dialog.say("Kaiserslautern")
    pager = dialog.button("▶")
    clock.advance(timedelta(hours=23))
    dialog.press(pager)
    assert results(dialog), "within the day the pager works"
    clock.advance(timedelta(hours=1, seconds=1))
    dialog.press(dialog.button("◀"))
    assert not results(dialog), "a day after the search the pager is stale"
    assert times_stored(app, "Kaiserslautern") == before


def test_the_nightly_retention_forgets_queries_kept_for_paging(app: App, clock: FakeClock) -> None:
    dialog = speaker(app, "uk")
    before = times_stored(app, "Kaiserslautern")
    dialog.say("Kaiserslautern")
    assert times_stored(app, "Kaiserslautern") == before + 1
    jobs = Jobs(conversation=app.conversation, settings=app.settings, clock=clock)
    assert jobs.retention()["searches"] == 1
    assert times_stored(app, "Kaiserslautern") == before, "nobody came back, and still it is gone"
    dialog.press("srch:1:1")
    assert not results(dialog), "the pager of a forgotten search is stale"
    assert jobs.retention()["searches"] == 0
