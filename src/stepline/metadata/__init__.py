"""The metadata database: SQL schema, migrations and queries (SQLAlchemy Core; SQLite or PostgreSQL).

The run write path on SQLite (`sqlite_runs`) uses the stdlib `sqlite3` instead, so that a run
starts without importing SQLAlchemy; the schema version both check is kept here, beside neither.
"""

#: 2: manifest digests over canonical JSON; 3: executions table, runs.execution_id and
#: runs.cache_key; 4: history_previews table (see metadata/migrations.py)
SCHEMA_VERSION = 4
