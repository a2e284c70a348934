"""The table of realistic queries (tests/search_queries.py) on SQLite and on PostgreSQL: the
expected item comes first, precision at 5 reaches its bar, and both databases give the same
first five, in the demo city and with 10,000 more offers.

    .venv/bin/pytest -q -s tests/test_search_table.py   # -s prints precision at 5

With TEST_DATABASE_URL set (`bash .ci/postgres` prints one) every test also runs on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.config import load_settings
from db.engine import session_scope
from db.search import search
from tests.conftest import START
from tests.search_queries import CASES, precision_at_5
from tests.test_search import add_offers

pytestmark = pytest.mark.both_databases

PRECISION_BAR = 0.9


def top_five(app: App, query: str) -> list[str]:
    with session_scope(app.engine) as session:
        page = search(session, query, now=START, size=5)
    return [f"{hit.kind[0]}:{hit.id}" for hit in page.items]


def test_the_table_has_fifty_queries_in_seven_languages() -> None:
    assert len(CASES) >= 50
    assert {case.language for case in CASES} == {"de", "en", "uk", "ru", "ar", "fa", "tr"}
    assert len({case.query for case in CASES}) == len(CASES)


def test_every_query_finds_its_best_result_first(app: App, database: str) -> None:
    wrong = {}
    scores = []
    for case in CASES:
        found = top_five(app, case.query)
        if (found[0] if found else None) not in (case.best or (None,)):
            wrong[case.query] = found
        scores.append(precision_at_5(case, found))
    mean = sum(scores) / len(scores)
    perfect = sum(score == 1.0 for score in scores)
    print(
        f"\n{database}: {len(CASES)} queries, best result first for {len(CASES) - len(wrong)}, "
        f"precision at 5 {mean:.3f} ({perfect} of {len(CASES)} without a wrong answer)"
    )
    assert wrong == {}
    assert mean >= PRECISION_BAR


def test_a_typo_is_corrected_only_where_nothing_matches(app: App) -> None:
    # "Konigstrasse" is a word of the addresses: no item that merely shares "strasse" is shown.
    assert sorted(top_five(app, "Konigstrasse")) == sorted(
        [f for f in top_five(app, "Königstraße")]
    )
    with session_scope(app.engine) as session:
        found = search(session, "Konigstrasse", now=START, size=50)
    assert found.total == 7
    # "lesepatte" occurs nowhere, so it is corrected, and only to the reading-buddy words.
    assert top_five(app, "lesepatte") == ["o:1", "e:7"]


@pytest.fixture
def pg_app(pg_demo_url: str) -> Iterator[App]:
    settings = load_settings(
        _env_file=None, database_url=pg_demo_url, telegram_bot_token=None, flood_burst=1000
    )
    application = App(settings, clock=FakeClock(START))
    yield application
    application.close()


def _differences(sqlite_app: App, pg_app: App) -> dict[str, tuple[list[str], list[str]]]:
    pairs = {
        case.query: (top_five(sqlite_app, case.query), top_five(pg_app, case.query))
        for case in CASES
    }
    return {query: pair for query, pair in pairs.items() if pair[0] != pair[1]}


@pytest.mark.sqlite_only("compares SQLite with PostgreSQL itself")
def test_the_same_top_five_on_both_databases(app: App, pg_app: App) -> None:
    assert _differences(app, pg_app) == {}


@pytest.mark.sqlite_only("compares SQLite with PostgreSQL itself")
def test_the_same_top_five_on_both_databases_at_ten_thousand_offers(app: App, pg_app: App) -> None:
    assert add_offers(app, 10_000) == add_offers(pg_app, 10_000)
    assert _differences(app, pg_app) == {}
    # The events are still found among 10,000 offers that share their words.
    assert top_five(app, "Schnuppertreffen") == ["e:7"]
    assert top_five(pg_app, "lesepatte")[:2] == ["o:1", "e:7"]
