"""The event outbox: events recorded with the journal, their deliveries per handler and
every delivery attempt; the topics of published items (so a withdrawal reaches only the
partners whose file held the item).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("published") as batch:
        batch.add_column(sa.Column("topics", sa.Text))
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),   # JSON
    )
    op.create_table(
        "deliveries",
        sa.Column("event_id", sa.Integer, sa.ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("handler", sa.Text, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_at", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.CheckConstraint("status IN ('pending', 'done', 'failed')", name="deliveries_status"),
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
        sa.Column("handler", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),   # done, or the error
    )


def downgrade() -> None:
    for table in ("delivery_attempts", "deliveries", "events"):
        op.drop_table(table)
    with op.batch_alter_table("published") as batch:
        batch.drop_column("topics")
