"""Checking the stored audit log.

Walked in id order, batch by batch so a long log is never held in memory at once, every entry
must keep the rules of sync.audit.Walk (links and hashes, formats never going back, a format-2
entry's id being the one hashed and following the previous one, its time not going back), and its
row's columns (kind, actor, detail...) must still encode to exactly the hashed content, so an
in-place edit of a column is caught too.

A head published earlier (the `X-Audit-Head` of an export, `tigapilar audit head`, a signed
checkpoint) is checked with `want`: the log must still hold that entry with that hash, which
catches the newest entries being removed (the chain alone cannot show that).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from server.storage import Storage
from sync.audit import GENESIS, Walk, content_of


@dataclass
class AuditReport:
    count: int = 0
    """Entries checked (up to and including the first broken one)."""
    first_broken: int | None = None
    reason: str = ""
    head: str = GENESIS
    """Hash of the last good entry."""
    head_id: int = 0
    head_at: str = ""
    hashes: dict[int, str] = field(default_factory=dict)
    """Hash of each entry asked for in `want` that the verified part of the log holds."""
    formats: dict[int, int] = field(default_factory=dict)
    """How many entries of each hash format."""
    legacy_time_steps_back: int = 0
    """Format-1 entries (written before times were kept in order) whose time went back."""

    @property
    def ok(self) -> bool:
        return self.first_broken is None


async def verify_log(storage: Storage, *, batch: int = 5000, want: Collection[int] = ()) -> AuditReport:
    report = AuditReport()
    wanted = set(want)
    walk = Walk()
    async for row in storage.audit_rows(batch=batch):
        report.count += 1
        reason = walk.step(row.id, row.content, row.prev_hash, row.hash)
        if reason is None and content_of(row.id, row.entry, walk.format) != row.content:
            reason = "columns differ from the hashed content"
        if reason is not None:
            report.first_broken, report.reason = row.id, reason
            break
        report.head, report.head_id, report.head_at = row.hash, row.id, walk.head.at
        report.formats[walk.format] = report.formats.get(walk.format, 0) + 1
        if row.id in wanted:
            report.hashes[row.id] = row.hash
    report.legacy_time_steps_back = walk.legacy_time_steps_back
    return report
