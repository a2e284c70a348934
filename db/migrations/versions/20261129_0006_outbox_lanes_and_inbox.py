"""outbox lanes, parts sent, and the inbox

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BULK_KINDS = ("broadcast", "alert", "digest")


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lane", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("parts_sent", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.drop_index("ix_outbox_due")
        batch_op.create_index(
            "ix_outbox_due", ["status", "transport", "lane", "next_attempt_at"], unique=False
        )
    outbox = sa.table("outbox", sa.column("kind", sa.String), sa.column("lane", sa.Integer))
    op.execute(outbox.update().where(outbox.c.kind.in_(BULK_KINDS)).values(lane=1))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("lane", server_default=None)
        batch_op.alter_column("parts_sent", server_default=None)

    op.create_table(
        "inbox",
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_key", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("replies", sa.JSON(), nullable=True),
        sa.Column("received_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("transport", "update_id"),
    )
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbox_received_at"), ["received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_received_at"))
    op.drop_table("inbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")
        batch_op.create_index(
            "ix_outbox_due", ["status", "transport", "next_attempt_at"], unique=False
        )
        batch_op.drop_column("parts_sent")
        batch_op.drop_column("lane")
