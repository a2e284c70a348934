"""requests to help as a handoff: open or closed, one open per person and offer, messages

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.models import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    with op.batch_alter_table("help_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=8), nullable=False, server_default="open")
        )
        batch_op.add_column(sa.Column("closed_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("closed_by", sa.String(length=16), nullable=True))
    # Requests made before this revision could repeat; the newest one per person and offer
    # stays open, the others are closed as answered by the organisation.
    op.execute(
        "UPDATE help_requests SET status = 'closed', closed_at = created_at, "
        "closed_by = 'organisation' WHERE id NOT IN "
        "(SELECT MAX(id) FROM help_requests GROUP BY user_id, offer_id)"
    )
    op.create_index(
        "uq_help_requests_open",
        "help_requests",
        ["user_id", "offer_id"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_table(
        "help_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["help_requests.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("help_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_help_messages_request_id"), ["request_id"])
        batch_op.create_index(batch_op.f("ix_help_messages_author_id"), ["author_id"])


def downgrade() -> None:
    with op.batch_alter_table("help_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_help_messages_author_id"))
        batch_op.drop_index(batch_op.f("ix_help_messages_request_id"))
    op.drop_table("help_messages")
    op.drop_index("uq_help_requests_open", table_name="help_requests")
    with op.batch_alter_table("help_requests", schema=None) as batch_op:
        batch_op.drop_column("closed_by")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("status")
