"""Subscribers, their subscriptions and consent records, forgotten addresses, and the
send ledger.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("language", sa.Text, nullable=False),
        sa.Column("token_key", sa.Text, nullable=False, unique=True),   # what tokens name
        sa.Column("hard_bounces", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Text, nullable=False),
    )
    op.create_table(
        "subscriptions",
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("newsletter", sa.Text, nullable=False, primary_key=True),
        sa.Column("topics", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.CheckConstraint("status IN ('pending', 'active', 'unsubscribed', 'bounced')",
                           name="subscriptions_status"),
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("newsletter", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),    # subscribed, confirmed, unsubscribed, …
        sa.Column("source", sa.Text, nullable=False),    # import:file.csv, web form, cli, …
        sa.Column("at", sa.Text, nullable=False),
    )
    op.create_index("consents_subscriber", "consents", ["subscriber_id"])
    op.create_table(
        "forgotten",
        sa.Column("email_hash", sa.Text, primary_key=True),   # keyed hash: no address kept
        sa.Column("at", sa.Text, nullable=False),
    )
    op.create_table(
        "sends",
        sa.Column("newsletter", sa.Text, nullable=False, primary_key=True),
        sa.Column("edition", sa.Text, nullable=False, primary_key=True),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
                  nullable=False, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("message_id", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed', 'skipped')",
                           name="sends_status"),
    )


def downgrade() -> None:
    for table in ("sends", "forgotten", "consents", "subscriptions", "subscribers"):
        op.drop_table(table)
