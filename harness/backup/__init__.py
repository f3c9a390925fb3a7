"""PostgreSQL base backups, continuous WAL archiving and point-in-time restore (local stack)."""
