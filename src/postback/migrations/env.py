"""Alembic environment: one migration history for SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from postback.config import Settings
from postback.kit.db import make_engine
from postback.models import Base
from postback.users import tables as _users_tables  # noqa: F401  (tables outside models.py)


def _pragma(connection: Connection, setting: str) -> None:
    """A pragma straight to the driver, outside any transaction SQLAlchemy would begin."""
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA {setting}")


def run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds a table by copying it and dropping the old one, which SQLite
        # refuses while rows of other tables point at it (conversions, with its ledger rows
        # and deliveries). The pragma only takes effect outside a transaction, so it is set
        # before ours begins; the keys are checked before it commits.
        _pragma(connection, "foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables instead.
        render_as_batch=sqlite,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
    if sqlite:
        _pragma(connection, "foreign_keys=ON")


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
