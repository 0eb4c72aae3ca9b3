"""Alembic environment: one migration history for SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from postback.config import Settings
from postback.kit.db import make_engine
from postback.models import Base
from postback.users import tables as _users_tables  # noqa: F401  (tables outside models.py)


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = make_engine(
        Settings(database_url=context.config.get_main_option("sqlalchemy.url") or "")
    )
    with engine.connect() as conn:
        run(conn)
    engine.dispose()
