"""Alembic's environment for Newsroom: migrations run on the connection the caller
passes (``config.attributes["connection"]``, see :func:`pipeline.statedb.upgrade`)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
