"""The metadata database: SQL schema, migrations and queries (SQLAlchemy Core; SQLite or PostgreSQL)."""
