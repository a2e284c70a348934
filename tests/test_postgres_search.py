"""Search on PostgreSQL (pg_trgm) gives the same top five as SQLite's full-text index.

These need TEST_DATABASE_URL (`bash .ci/postgres` starts a server and prints one) and are skipped
without it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bot.app import App
from bot.clock import FakeClock
from bot.config import load_settings
from db.engine import session_scope
from db.search import search, uses_fts
from tests.conftest import START
from tests.test_search import add_offers
from tests.test_search import test_german_queries_with_typos_and_missing_umlauts as table_test


def search_table() -> list[tuple[str, str, list[str]]]:
    """test_search.py's table: a query, its best result and others among the first five."""
    (mark,) = [m for m in table_test.pytestmark if m.name == "parametrize"]
    return list(mark.args[1])


TABLE = search_table()


def table_queries() -> list[str]:
    """The queries of test_search.py's table, and those its other tests type."""
    return [row[0] for row in TABLE] + [
        *("homework", "reading children", "читання", "допомога з домашніми завданнями"),
        *("помощь детям", "مساعدة الأطفال", "مساعدة", "Gelterswoog", "Sprachcafe", "zzqxv"),
        *("Kinder", "Garten", "Hilfe", "Café", "Senioren", "Treffen", "Computer", "Musik"),
    ]


QUERIES = table_queries()


@pytest.fixture
def pg_app(pg_url: str) -> Iterator[App]:
    settings = load_settings(
        _env_file=None, database_url=pg_url, telegram_bot_token=None, flood_burst=1000
    )
    application = App(settings, clock=FakeClock(START))
    application.load_demo(only_if_empty=True)
    yield application
    application.close()


def top_five(app: App, query: str) -> list[tuple[str, int, float]]:
    with session_scope(app.engine) as session:
        page = search(session, query, now=START, size=5)
    return [(hit.kind, hit.id, round(hit.score, 9)) for hit in page.items]


def test_postgresql_searches_by_trigrams(pg_app: App) -> None:
    with session_scope(pg_app.engine) as session:
        assert not uses_fts(session)
        extension = session.execute(
            text("SELECT extversion FROM pg_extension WHERE extname = 'pg_trgm'")
        ).scalar()
        assert extension is not None
        definition = session.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_search_documents_trigrams'")
        ).scalar()
        assert "gin" in definition and "gin_trgm_ops" in definition


def test_the_same_top_five_on_both_databases(app: App, pg_app: App) -> None:
    differ = {q: (top_five(app, q), top_five(pg_app, q)) for q in QUERIES}
    assert {q: pair for q, pair in differ.items() if pair[0] != pair[1]} == {}
    # Words the demo city does not contain find nothing, rather than whatever shares a trigram.
    assert {q for q, (sqlite, _pg) in differ.items() if not sqlite} == {
        *("zzqxv", "Garten", "Computer", "Musik")
    }


def test_the_table_of_queries_on_postgresql(pg_app: App) -> None:
    for query, best, also in TABLE:
        found = [f"{kind[0]}:{ident}" for kind, ident, _score in top_five(pg_app, query)]
        assert found[0] == best, (query, found)
        assert set(also) <= set(found), (query, found)


def test_ten_thousand_offers_do_not_crowd_out_the_best(pg_app: App) -> None:
    """At city scale every document shares a trigram with the query; the best still come first
    (the old portable search kept the first 1,000 by id and never saw the events)."""
    add_offers(pg_app, 10_000)
    best = {
        "deutschkurs": [("event", 3)],  # the language café
        "lesepatte": [("offer", 1), ("event", 7)],  # the reading buddy, and its event
        "Senioren Handi": [("offer", 11), ("offer", 10), ("event", 6)],
        "Sprachcafe": [("offer", 6), ("event", 3)],
        "Gelterswoog": [("event", 5), ("offer", 15)],
    }
    for query, expected in best.items():
        found = [(kind, ident) for kind, ident, _score in top_five(pg_app, query)]
        assert found[: len(expected)] == expected, (query, found)
