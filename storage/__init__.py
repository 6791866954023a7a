"""SQLite state: the connection owner, the schema migrations and the replica records."""
