"""Per-warehouse digest of the server state: record count and an order-independent checksum.

The checksum is the XOR of FNV-1a-32 over "id:revision" of every record (tombstones and conflict
records included). XOR lets the engine update it incrementally (remove the old revision, add the
new one), and a phone computes the same value over its replica in a few lines of JavaScript
(static/js/digest.js) to detect a wiped or corrupted IndexedDB.
"""

from __future__ import annotations

from sync.messages import Digest

EMPTY = Digest(count=0, checksum="00000000")


def fnv1a32(text: str) -> int:
    h = 0x811C9DC5
    for byte in text.encode("utf-8"):
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def record_hash(record_id: str, revision: int) -> int:
    return fnv1a32(f"{record_id}:{revision}")


def update(digest: Digest, *, removed: tuple[str, int] | None, added: tuple[str, int]) -> Digest:
    """Digest after one record moved from revision `removed` (None: new record) to `added`."""
    value = int(digest.checksum, 16) ^ record_hash(*added)
    count = digest.count + 1
    if removed is not None:
        value ^= record_hash(*removed)
        count -= 1
    return Digest(count=count, checksum=f"{value:08x}")


def compute(records: list[tuple[str, int]]) -> Digest:
    value = 0
    for record_id, revision in records:
        value ^= record_hash(record_id, revision)
    return Digest(count=len(records), checksum=f"{value:08x}")
