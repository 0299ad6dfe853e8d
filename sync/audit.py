"""Hash chain of the audit log.

Each entry commits to the previous entry's hash and to the canonical bytes of its own content, so
changing, removing or reordering any entry breaks every hash after it. Backends call `chain()`
when appending and `verify()` walks a log from the start.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import msgspec

GENESIS = "0" * 64


def canonical(content: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace. Stable across Python and backends."""
    return msgspec.json.encode(content, order="sorted")


def chain(prev_hash: str, content_bytes: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + content_bytes).hexdigest()


def verify(entries: Iterable[tuple[int, bytes, str, str]]) -> int | None:
    """Walk (id, content_bytes, prev_hash, hash) in id order; return the id of the first entry
    whose link or hash is wrong, or None when the whole chain holds."""
    expected_prev = GENESIS
    for entry_id, content_bytes, prev_hash, entry_hash in entries:
        if prev_hash != expected_prev or chain(prev_hash, content_bytes) != entry_hash:
            return entry_id
        expected_prev = entry_hash
    return None
