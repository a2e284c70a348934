"""The search vocabulary: every distinct folded word of the search documents, for correcting
typos against words that really occur.

A query word that occurs in no document, whole, as a word's beginning or inside a word, is
compared with this vocabulary by trigram similarity, computed here the way pg_trgm's
`similarity` computes it (each word padded with two spaces before and one after, shared
trigrams over all distinct trigrams of both), so the result does not depend on the database.
The database only narrows the comparison down: SQLite through an FTS5 trigram index of the
words, PostgreSQL through pg_trgm's word-similarity operator on a GIN index (migration 0019).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

WORDS_TABLE = "search_words"
WORDS_FTS = "search_words_index"
WORDS = sa.Table(
    WORDS_TABLE,
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("word", sa.Text, nullable=False, unique=True),
)
MIN_SIMILARITY = 0.45  # a correction shares at least this much of the trigrams (see `similarity`)
MAX_CORRECTIONS = 3  # the most similar words tried for one mistyped word
# How many words each database hands over for comparison; far more than ever reach the bar.
_PREFILTER = 2000
_PG_THRESHOLD = 0.3  # pg_trgm's bar for those; below ours, so none that reach ours is missed


@lru_cache(maxsize=4096)
def trigrams(word: str) -> frozenset[str]:
    """The trigrams of one word as pg_trgm forms them: "  word " cut in threes."""
    padded = f"  {word} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def similarity(a: str, b: str) -> float:
    """pg_trgm's `similarity` of two words: shared trigrams over all their distinct trigrams."""
    left, right = trigrams(a), trigrams(b)
    shared = len(left & right)
    return shared / (len(left) + len(right) - shared)


def has_table(session: Session) -> bool:
    return sa.inspect(session.connection()).has_table(WORDS_TABLE)


def add_words(session: Session, words: Iterable[str]) -> None:
    """Add words to the vocabulary; words already there stay as they are."""
    rows = [{"word": word} for word in dict.fromkeys(words)]
    if not rows:
        return
    dialect = session.connection().dialect.name
    if dialect == "postgresql":
        statement = postgresql.insert(WORDS).on_conflict_do_nothing(index_elements=["word"])
    elif dialect == "sqlite":
        statement = sqlite.insert(WORDS).on_conflict_do_nothing(index_elements=["word"])
    else:  # other databases: only the missing ones
        known = set(session.execute(sa.select(WORDS.c.word)).scalars())
        rows = [row for row in rows if row["word"] not in known]
        statement = WORDS.insert()
    if rows:
        session.execute(statement, rows)


def replace_words(session: Session, words: Iterable[str]) -> None:
    """Make the vocabulary exactly `words` (after rebuilding every document)."""
    session.execute(sa.delete(WORDS))
    rows = [{"word": word} for word in sorted(set(words))]
    if rows:
        session.execute(WORDS.insert(), rows)


def is_empty(session: Session) -> bool:
    return session.execute(sa.select(WORDS.c.id).limit(1)).first() is None


def _nearby(session: Session, word: str) -> list[str]:
    """Words of the vocabulary that may be similar to `word` (a superset of those that are)."""
    dialect = session.connection().dialect.name
    if dialect == "postgresql":
        session.execute(text(f"SET LOCAL pg_trgm.word_similarity_threshold = {_PG_THRESHOLD}"))
        rows = session.execute(
            text(
                f"SELECT word FROM {WORDS_TABLE} WHERE :word <% word "
                "ORDER BY word_similarity(:word, word) DESC, word LIMIT :limit"
            ),
            {"word": word, "limit": _PREFILTER},
        )
        return list(rows.scalars())
    inner = sorted({word[i : i + 3] for i in range(len(word) - 2)})
    if dialect == "sqlite" and inner and _has_fts(session):
        match = " OR ".join('"' + gram.replace('"', '""') + '"' for gram in inner)
        rows = session.execute(
            text(
                f"SELECT w.word FROM {WORDS_FTS} JOIN {WORDS_TABLE} w ON w.id = {WORDS_FTS}.rowid "
                f"WHERE {WORDS_FTS} MATCH :match ORDER BY bm25({WORDS_FTS}), w.word LIMIT :limit"
            ),
            {"match": match, "limit": _PREFILTER},
        )
        return list(rows.scalars())
    return list(session.execute(sa.select(WORDS.c.word)).scalars())


def _has_fts(session: Session) -> bool:
    found = session.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": WORDS_FTS},
    ).first()
    return found is not None


def corrections(session: Session, word: str) -> list[tuple[str, int]]:
    """The words of the vocabulary most like `word`, each with its similarity in percent,
    most similar first (ties alphabetically)."""
    if not has_table(session):
        return []
    scored = [(round(100 * similarity(word, other)), other) for other in _nearby(session, word)]
    best = sorted((-pct, other) for pct, other in scored if pct >= 100 * MIN_SIMILARITY)
    return [(other, -pct) for pct, other in best[:MAX_CORRECTIONS]]
