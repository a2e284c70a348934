"""audit entries name the user they are about in an indexed column

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = "fk_audit_log_subject_id_users"


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_log_subject_id"), ["subject_id"], unique=False)
        batch_op.create_foreign_key(
            FOREIGN_KEY, "users", ["subject_id"], ["id"], ondelete="CASCADE"
        )
    _name_subjects()


def _name_subjects() -> None:
    """Copy `detail["user_id"]` of the entries written so far into `subject_id`."""
    audit = sa.table(
        "audit_log",
        sa.column("id", sa.Integer),
        sa.column("detail", sa.JSON),
        sa.column("subject_id", sa.Integer),
    )
    users = sa.table("users", sa.column("id", sa.Integer))
    connection = op.get_bind()
    # Only the few entries whose text mentions the key are read (admins adding someone).
    mentions = connection.execute(
        sa.select(audit.c.id, audit.c.detail).where(
            sa.cast(audit.c.detail, sa.Text).like('%"user_id"%')
        )
    ).all()
    subjects = {
        entry_id: detail["user_id"]
        for entry_id, detail in mentions
        if isinstance(detail, dict) and isinstance(detail.get("user_id"), int)
    }
    if not subjects:
        return
    known = set(
        connection.execute(
            sa.select(users.c.id).where(users.c.id.in_(set(subjects.values())))
        ).scalars()
    )
    rows = [
        {"entry_id": entry_id, "user_id": user_id}
        for entry_id, user_id in subjects.items()
        if user_id in known
    ]
    if rows:
        connection.execute(
            audit.update()
            .where(audit.c.id == sa.bindparam("entry_id"))
            .values(subject_id=sa.bindparam("user_id")),
            rows,
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint(FOREIGN_KEY, type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_audit_log_subject_id"))
        batch_op.drop_column("subject_id")
