"""Storage: typed stores behind one contract (api.py), with memory and SQL backends.

Entry points:

- ``manager.open_storage(backend_for, sql_url, clock)`` -> ``StoreSet`` (``await stores.close()``)
- ``migrate.upgrade_database(url)``, ``migrate.current_revision(url)``, ``migrate.head_revision()``
- ``ids``: archive ids (``encode_id``/``decode_id``/``id_floor``/``id_ceiling``/``id_time``)

Layout: ``memory.py`` is the reference semantics; ``sql/`` is SQLite + PostgreSQL through
SQLAlchemy Core with a writer thread (group commit) and reader threads; ``archive_query.py``
turns a query into id ranges the same way for both; ``migrations/`` is Alembic.
"""
