"""The journal and the newsletter editions: the schema before Alembic (SQLite
``user_version`` 1 and 2). A database from then holds some of these tables already;
only the missing ones are created, and its rows are kept.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "published" not in existing:
        op.create_table(
            "published",
            sa.Column("target", sa.Text, nullable=False, primary_key=True),
            sa.Column("id", sa.Text, nullable=False, primary_key=True),
            sa.Column("url", sa.Text, nullable=False),
            sa.Column("lang", sa.Text, nullable=False),
            sa.Column("modified", sa.Text, nullable=False),
        )
    if "changes" not in existing:
        op.create_table(
            "changes",
            sa.Column("target", sa.Text, nullable=False, primary_key=True),
            sa.Column("seq", sa.Integer, nullable=False, primary_key=True, autoincrement=False),
            sa.Column("at", sa.Text, nullable=False),
            sa.Column("event", sa.Text, nullable=False),
            sa.Column("id", sa.Text, nullable=False),
            sa.Column("url", sa.Text, nullable=False),
            sa.Column("lang", sa.Text, nullable=False),
            sa.Column("modified", sa.Text),
            sa.CheckConstraint("event IN ('published', 'updated', 'withdrawn')", name="changes_event"),
        )
    if "sequence" not in existing:
        op.create_table(
            "sequence",
            sa.Column("target", sa.Text, primary_key=True),
            sa.Column("last_seq", sa.Integer, nullable=False),
        )
    if "editions" not in existing:
        op.create_table(
            "editions",
            sa.Column("newsletter", sa.Text, nullable=False, primary_key=True),
            sa.Column("edition", sa.Text, nullable=False, primary_key=True),
            sa.Column("scheduled_at", sa.Text, nullable=False),
            sa.Column("window_start", sa.Text, nullable=False),
            sa.Column("made_at", sa.Text, nullable=False),
        )
    if "edition_entries" not in existing:
        op.create_table(
            "edition_entries",
            sa.Column("newsletter", sa.Text, nullable=False, primary_key=True),
            sa.Column("edition", sa.Text, nullable=False, primary_key=True),
            sa.Column("position", sa.Integer, nullable=False, primary_key=True, autoincrement=False),
            sa.Column("kind", sa.Text, nullable=False),
            sa.Column("item_id", sa.Text, nullable=False),
            sa.Column("modified", sa.Text),
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("url", sa.Text, nullable=False),
            sa.Column("lang", sa.Text, nullable=False),
            sa.Column("topics", sa.Text, nullable=False),
            sa.CheckConstraint("kind IN ('new', 'updated', 'withdrawn')", name="edition_entries_kind"),
        )


def downgrade() -> None:
    for table in ("edition_entries", "editions", "sequence", "changes", "published"):
        op.drop_table(table)
