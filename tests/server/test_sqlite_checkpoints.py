"""WAL checkpoints run in the background, not inside the commit of whichever push crosses
SQLite's threshold (server.storage.sqlite.storage)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from server.storage.sqlite import SqliteStorage
from server.storage.sqlite.storage import WAL_SAFETY_PAGES
from sync.store import BatchEffects, Record


def _record(n: int) -> Record:
    return Record(
        id=f"inc-{n:05d}",
        collection="incidents",
        warehouse_id="gd-1",
        revision=n,
        fields={"description": f"Segel kotak suara {n} sobek. " * 60},
        field_revs={"description": n},
        field_hlcs={},
        field_by={},
    )


def _rows_in_main_file(path: Path) -> int:
    """Records in the database file itself, ignoring the -wal file (immutable=1 reads only it)."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])
    finally:
        conn.close()


async def test_committed_pages_reach_the_database_file_without_the_writer_checkpointing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    storage = SqliteStorage(path)
    await storage.open()
    try:
        [(writer_limit,)] = await storage._w.execute_fetchall("PRAGMA wal_autocheckpoint")
        assert writer_limit == WAL_SAFETY_PAGES
        before = storage.checkpoints
        records = [_record(n) for n in range(1, 3001)]  # ~6 MB: well past SQLite's 1,000-page default
        async with storage.write() as tx:
            await tx.commit(
                BatchEffects(client_id="", user_id="", last_seq=0, revisions={"gd-1": 3000}, records=records,
                             outcomes=[], digests={}, audit=[], attachment_refs=[])
            )  # fmt: skip
        # The commit itself left the pages in the -wal file (the writer no longer checkpoints at
        # 1,000 pages) ...
        wal_pages = Path(f"{path}-wal").stat().st_size // 4096
        assert wal_pages > 1000
        # ... and the background checkpoint copies them into the database file shortly after.
        for _ in range(200):
            if storage.checkpoints > before and _rows_in_main_file(path) == 3000:
                break
            await asyncio.sleep(0.05)
        assert storage.checkpoints > before
        assert _rows_in_main_file(path) == 3000
    finally:
        await storage.close()
    assert _rows_in_main_file(path) == 3000
