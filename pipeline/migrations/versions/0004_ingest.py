"""Ingestion state: per upstream source its HTTP validators and health; per entry the file
it became and what was last written there (the base of a three-way merge with an editor's
changes).

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_sources",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("last_fetch", sa.Text),
        sa.Column("last_success", sa.Text),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),   # in a row
        sa.Column("last_error", sa.Text),
        sa.Column("retry_at", sa.Text),   # after a 429 or 503: not fetched before this
        sa.Column("settings", sa.Text),   # what the validators were stored under (source, site)
    )
    op.create_table(
        "ingest_entries",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("entry", sa.Text, primary_key=True),   # SHA-256 of the entry's guid (or link)
        sa.Column("path", sa.Text, nullable=False),      # under the content folder
        sa.Column("upstream", sa.Text, nullable=False),  # SHA-256 of the entry as last mapped
        sa.Column("base", sa.Text, nullable=False),      # JSON: the front matter and body last written
        sa.Column("seen_at", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ingest_entries")
    op.drop_table("ingest_sources")
