"""Alembic environment: runs migrations on the connection the store hands over, so the
store needs no alembic.ini and no second connection."""

from __future__ import annotations

from alembic import context

from deconflict.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
