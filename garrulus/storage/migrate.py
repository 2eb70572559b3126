"""Schema migrations (Alembic, run programmatically).

The server calls :func:`upgrade_database` at start; ``garrulus db upgrade`` calls it too. Both
are synchronous: call them from a thread when an event loop is running.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from garrulus.storage.sql.engine import make_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade_database(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (default: the newest schema).

    A no-op when it is already there; creates every table in an empty database.
    """
    engine = make_engine(url, role="writer")
    try:
        with engine.connect() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
    finally:
        engine.dispose()


def downgrade_database(url: str, revision: str) -> None:
    """Step the schema back to ``revision`` ("base" = drop everything); for tests and rescues."""
    engine = make_engine(url, role="writer")
    try:
        with engine.connect() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
            connection.commit()
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The schema revision of the database at ``url``; None if it was never migrated."""
    engine = make_engine(url, role="reader")
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
