"""Contract tests of the store, run on SQLite and on PostgreSQL."""
