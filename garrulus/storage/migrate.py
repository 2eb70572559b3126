"""Schema migrations (Alembic, run programmatically).

The server calls :func:`upgrade_database` at start; ``garrulus db upgrade`` calls it too. Both
are synchronous: call them from a thread when an event loop is running.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from garrulus.storage.api import StorageError
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


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """Failures become StorageError naming the database (without its password)."""
    try:
        yield
    except (SQLAlchemyError, CommandError, OSError) as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        if isinstance(exc, CommandError) and "Can't locate revision" in str(exc):
            raise StorageError(
                f"database {shown} has a schema revision this version doesn't know"
                f" (written by a newer garrulus?): {exc}"
            ) from exc
        raise StorageError(f"database {shown}: {exc}") from exc


def upgrade_database(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (default: the newest schema).

    A no-op when it is already there; creates every table in an empty database.
    Raises StorageError when the database can't be reached or migrated.
    """
    with _database_errors(url):
        _upgrade(url, revision)


def _upgrade(url: str, revision: str) -> None:
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
    with _database_errors(url):
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
    with _database_errors(url):
        engine = make_engine(url, role="reader")
        try:
            with engine.connect() as connection:
                return MigrationContext.configure(connection).get_current_revision()
        finally:
            engine.dispose()
