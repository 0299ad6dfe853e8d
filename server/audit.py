"""Checking the stored audit log.

Two things must hold for every entry, walked in id order:
- the hash chain: `prev_hash` is the previous entry's hash (GENESIS for the first) and `hash` is
  sync.audit.chain(prev_hash, content) -- the same rule as sync.audit.verify, applied batch by
  batch so a long log is never held in memory at once;
- the row's columns (kind, actor, detail...) still encode to exactly the hashed `content`, so an
  in-place edit of a column is caught too.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from server.storage import Storage
from sync.audit import GENESIS, canonical, chain


@dataclass
class AuditReport:
    count: int = 0
    """Entries checked (up to and including the first broken one)."""
    first_broken: int | None = None
    reason: str = ""
    head: str = GENESIS
    """Hash of the last good entry."""
    head_id: int = 0
    hashes: dict[int, str] = field(default_factory=dict)
    """Hash of each entry asked for in `want` that the verified part of the log holds."""

    @property
    def ok(self) -> bool:
        return self.first_broken is None


async def verify_log(storage: Storage, *, batch: int = 5000, want: Collection[int] = ()) -> AuditReport:
    report = AuditReport()
    wanted = set(want)
    expected_prev = GENESIS
    async for row in storage.audit_rows(batch=batch):
        report.count += 1
        if row.prev_hash != expected_prev or chain(row.prev_hash, row.content) != row.hash:
            report.first_broken, report.reason = row.id, "hash chain broken"
            break
        if canonical(row.entry) != row.content:
            report.first_broken, report.reason = row.id, "columns differ from the hashed content"
            break
        expected_prev = report.head = row.hash
        report.head_id = row.id
        if row.id in wanted:
            report.hashes[row.id] = row.hash
    return report
