"""PostgreSQL backend (asyncpg): for several server processes sharing one database. Sync batches
are serialized across processes by a transaction-level advisory lock; live updates cross processes
through LISTEN/NOTIFY. See docs/postgres.md."""

from server.storage.postgres.storage import PostgresStorage, mask_url, normalize_url
from server.storage.postgres.sync_tx import CHANNEL

__all__ = ["CHANNEL", "PostgresStorage", "mask_url", "normalize_url"]
