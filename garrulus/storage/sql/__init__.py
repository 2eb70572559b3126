"""SQL backends (SQLite and PostgreSQL through SQLAlchemy Core, one code path)."""
