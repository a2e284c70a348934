"""search vocabulary: the distinct folded words of the search documents

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 16:00:00

A typo is corrected against the words the documents really contain (db.search): `search_words`
holds each distinct folded word once. On SQLite an FTS5 table with the trigram tokenizer
indexes it, kept in step by triggers; on PostgreSQL a GIN index with pg_trgm's operator class
serves word similarity. Like `search_documents`, it is derived data and no model; the
application fills it (db.search.ensure_index) after migrating.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_search_words_trigrams"
_SQLITE_INDEX = (
    "CREATE VIRTUAL TABLE search_words_index USING fts5("
    "word, content='search_words', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER search_words_ai AFTER INSERT ON search_words BEGIN "
    "INSERT INTO search_words_index(rowid, word) VALUES (new.id, new.word); END",
    "CREATE TRIGGER search_words_ad AFTER DELETE ON search_words BEGIN "
    "INSERT INTO search_words_index(search_words_index, rowid, word) "
    "VALUES ('delete', old.id, old.word); END",
)


def upgrade() -> None:
    op.create_table(
        "search_words",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("word", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("word", name="uq_search_words_word"),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_INDEX:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON search_words USING gin (word gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("search_words_ai", "search_words_ad"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS search_words_index")
    op.drop_table("search_words")
