"""urgent announcements: sent as Telegram's paid broadcasts, in an outbox lane of their own

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 19:00:00

`broadcasts.urgent` marks an announcement an admin chose to send through Telegram's paid
broadcasts. Its Telegram messages wait in a lane between conversation-bound notices (lane 0)
and bulk ones, so bulk rows move from lane 1 to lane 2 and lane 1 is the urgent one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_outbox = sa.table("outbox", sa.column("lane", sa.Integer))


def upgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(_outbox.update().where(_outbox.c.lane == 1).values(lane=2))


def downgrade() -> None:
    op.execute(_outbox.update().where(_outbox.c.lane >= 1).values(lane=1))
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_column("urgent")
