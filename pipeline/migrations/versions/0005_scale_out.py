"""Scale-out: leases on send rows (workers on many machines share the queue), a table of
live send workers, and the daemon's job table (APScheduler's schema, made here so that
``newsroom db upgrade`` creates every table; a database where APScheduler made it already
keeps it).

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.add_column(sa.Column("lease_owner", sa.Text))   # the worker holding the row
        batch.add_column(sa.Column("lease_until", sa.Text))   # UTC ISO; expired: anyone may take it
    op.create_index("sends_open", "sends", ["newsletter", "edition", "status"])
    # a sender renews and releases its leases by owner; only open rows matter
    op.create_index("sends_leases", "sends", ["lease_owner"],
                    sqlite_where=sa.text("status IN ('queued', 'sending')"),
                    postgresql_where=sa.text("status IN ('queued', 'sending')"))
    op.create_table(
        "workers",
        sa.Column("id", sa.Text, primary_key=True),            # host:pid:namespace:random
        sa.Column("started_at", sa.Text, nullable=False),
        sa.Column("seen_at", sa.Text, nullable=False),         # the last heartbeat
        sa.Column("alive_until", sa.Text, nullable=False),     # no heartbeat by then: presumed dead
    )
    if "scheduler_jobs" not in set(sa.inspect(op.get_bind()).get_table_names()):
        op.create_table(
            "scheduler_jobs",
            sa.Column("id", sa.Unicode(191), primary_key=True),
            sa.Column("next_run_time", sa.Float(25), index=True),
            sa.Column("job_state", sa.LargeBinary, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("workers")
    op.drop_index("sends_leases", "sends")
    op.drop_index("sends_open", "sends")
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
