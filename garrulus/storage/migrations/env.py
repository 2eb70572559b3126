"""Alembic environment: run by :func:`garrulus.storage.migrate.upgrade_database`.

The caller passes an open connection in ``config.attributes["connection"]``; run from the
``alembic`` command line (developers), ``sqlalchemy.url`` in alembic.ini is used instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from garrulus.storage.sql.engine import make_engine
from garrulus.storage.sql.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite can't ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url in alembic.ini")
    engine = make_engine(url, role="writer")
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
