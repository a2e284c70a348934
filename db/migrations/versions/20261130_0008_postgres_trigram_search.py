"""search on PostgreSQL: pg_trgm and a trigram index over the folded text

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 01:30:00

PostgreSQL only (SQLite has its FTS5 index since 0004; there this is a no-op). The search looks
for the query's trigrams in `title || body` of `search_documents` and ranks by word similarity
(db.search); a GIN index with pg_trgm's operator class serves both. The extension is trusted
since PostgreSQL 13, so the database's owner can create it; going down drops the index and
leaves the extension, which other databases' users may rely on.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_search_documents_trigrams"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON search_documents "
        "USING gin ((title || body) gin_trgm_ops)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
