"""every text of an offer translatable; translations can be outdated, drafts, machine-made

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-03 12:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLAGS = ("outdated", "draft", "machine")


def upgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("requirements", sa.String(length=1000), nullable=False, server_default="")
        )
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("descriptions", sa.JSON(), nullable=False, server_default="{}")
        )
    with op.batch_alter_table("offer_translations", schema=None) as batch_op:
        for name, length in (("schedule", 300), ("requirements", 1000), ("contact", 300)):
            batch_op.add_column(
                sa.Column(name, sa.String(length=length), nullable=False, server_default="")
            )
    for table in ("offer_translations", "event_translations"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for flag in FLAGS:
                batch_op.add_column(
                    sa.Column(flag, sa.Boolean(), nullable=False, server_default=sa.false())
                )


def downgrade() -> None:
    for table in ("offer_translations", "event_translations"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for flag in FLAGS:
                batch_op.drop_column(flag)
    with op.batch_alter_table("offer_translations", schema=None) as batch_op:
        for name in ("schedule", "requirements", "contact"):
            batch_op.drop_column(name)
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_column("descriptions")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_column("requirements")
