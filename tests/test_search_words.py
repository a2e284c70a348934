"""The search vocabulary: typos are corrected against the words the city's texts contain, by
pg_trgm's similarity computed alike on both databases, and the vocabulary follows the data."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from bot.app import App
from bot.clock import FakeClock
from db.engine import make_engine, session_scope
from db.models import ItemStatus, Offer
from db.search import ensure_index, search
from db.search_words import WORDS, corrections, similarity, trigrams
from tests.conftest import START

pytestmark = pytest.mark.both_databases

WORDS_TO_COMPARE = [
    ("lesepatte", "lesepate"),
    ("lesepatte", "kulturveranstaltungen"),
    ("handi", "handy"),
    ("deutschkurz", "deutschkurs"),
    ("kleiderkamer", "kleiderkammer"),
    ("читання", "читаннях"),
    ("помощ", "помощь"),
    ("مساعده", "المساعده"),
    ("كتابخواني", "كتاب"),
    ("a", "ab"),
]


def test_trigrams_are_formed_as_pg_trgm_forms_them() -> None:
    assert trigrams("cat") == {"  c", " ca", "cat", "at "}
    assert similarity("cat", "cat") == 1.0
    assert similarity("lesepatte", "lesepate") == pytest.approx(8 / 11)


def test_similarity_is_pg_trgm_similarity(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
            for a, b in WORDS_TO_COMPARE:
                theirs = connection.execute(text("SELECT similarity(:a, :b)"), {"a": a, "b": b})
                assert similarity(a, b) == pytest.approx(theirs.scalar(), abs=1e-6), (a, b)
    finally:
        engine.dispose()


def test_a_typo_is_corrected_to_words_the_city_uses(app: App) -> None:
    with session_scope(app.engine) as session:
        found = corrections(session, "lesepatte")
    assert [word for word, _pct in found][:2] == ["lesepate", "lesepaten"]
    assert all(45 <= pct < 100 for _word, pct in found)
    with session_scope(app.engine) as session:
        assert corrections(session, "zzqxv") == []


def test_new_words_can_be_corrected_at_once(app: App, clock: FakeClock) -> None:
    with session_scope(app.engine) as session:
        session.add(
            Offer(
                organisation_id=1,
                category_id=1,
                title="Imkerei im Volkspark",
                status=ItemStatus.PUBLISHED,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
    with session_scope(app.engine) as session:
        (hit,) = search(session, "Imkerai", now=START).items  # typo
        offer = session.execute(sa.select(Offer.id).where(Offer.title == "Imkerei im Volkspark"))
        assert (hit.kind, hit.id) == ("offer", offer.scalar())


def test_a_database_from_before_the_vocabulary_gets_one(app: App) -> None:
    with session_scope(app.engine) as session:
        session.execute(sa.delete(WORDS))
    with session_scope(app.engine) as session:
        assert search(session, "lesepatte", now=START).total == 0
        ensure_index(session)
    with session_scope(app.engine) as session:
        assert [h.id for h in search(session, "lesepatte", now=START).items] == [1, 7]


def test_a_typo_like_nothing_beside_a_word_that_matches(app: App) -> None:
    # "Senioren" is found, "zzqxvw" is like no word at all: the search still answers.
    with session_scope(app.engine) as session:
        found = search(session, "Senioren zzqxvw", now=START)
    assert [(h.kind, h.id) for h in found.items][:2] == [("offer", 10), ("offer", 11)]
