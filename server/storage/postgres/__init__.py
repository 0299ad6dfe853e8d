"""PostgreSQL backend (asyncpg): for several server processes sharing one database. Sync batches
are serialized per warehouse by row locks (pushes to different warehouses share none); live updates
cross processes through LISTEN/NOTIFY, naming the warehouses. See docs/postgres.md."""

from server.storage.postgres.storage import PostgresStorage
from server.storage.postgres.sync_tx import CHANNEL
from server.storage.postgres.urls import mask_url, normalize_url

__all__ = ["CHANNEL", "PostgresStorage", "mask_url", "normalize_url"]
