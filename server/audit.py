"""Checking the stored audit log: every chain, their heads and the root over them.

The log is one hash chain per warehouse plus the system chain (sync.audit). Each chain is walked in
id order, batch by batch so a long log is never held in memory at once: every entry must keep the
rules of sync.audit.Walk (links and hashes, formats never going back, a numbered entry's id being
the one hashed and following the previous one, its time not going back, a format-3 entry naming its
chain), and its row's columns (kind, actor, subject...) must still encode to exactly the hashed
content, so an in-place edit of a column is caught too. The entry's detail has no column (migration
0008): it is read from the hashed content itself, so an edit of it breaks the hash. The head each
chain's state records (warehouse_state, what pushes append after and checkpoints sign) must be
the entry the walk ends at: a chain cut short behind its state's back is caught here, one cut
short together with its state by a signed checkpoint (server/checkpoints.py).

A head published earlier (the `X-Audit-Head` of a berita acara or an export, `tigapilar audit
head`, a signed checkpoint) is checked with `want`: the log must still hold that entry of that chain
with that hash, which catches the newest entries being removed (the chain alone cannot show that).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from server.storage import Storage
from sync.audit import GENESIS, SYSTEM_CHAIN, Head, Walk, content_of, merkle_root


@dataclass
class AuditReport:
    count: int = 0
    """Entries checked (up to and including the first broken one)."""
    first_broken: int | None = None
    broken_chain: str | None = None
    reason: str = ""
    heads: dict[str, Head] = field(default_factory=dict)
    """Each chain's last good entry."""
    hashes: dict[tuple[str, int], str] = field(default_factory=dict)
    """Hash of each (chain, entry id) asked for in `want` that the verified part of the log holds."""
    formats: dict[int, int] = field(default_factory=dict)
    """How many entries of each hash format."""
    legacy_time_steps_back: int = 0
    """Format-1 entries (written before times were kept in order) whose time went back."""

    @property
    def ok(self) -> bool:
        return self.first_broken is None

    @property
    def system(self) -> Head:
        return self.heads.get(SYSTEM_CHAIN, Head())

    @property
    def head(self) -> str:
        """Hash of the system chain's head (GENESIS when empty)."""
        return self.system.hash if self.system.id else GENESIS

    @property
    def head_id(self) -> int:
        return self.system.id

    @property
    def root(self) -> str:
        """The Merkle root over every chain's head (sync.audit.merkle_root)."""
        return merkle_root({c: (h.id, h.hash) for c, h in self.heads.items() if h.id})

    def where(self) -> str:
        """Where the log breaks, for messages."""
        if self.broken_chain is None:
            return ""
        chain = "the system chain" if self.broken_chain == SYSTEM_CHAIN else f"chain {self.broken_chain}"
        return f"entry {self.first_broken} of {chain}"


async def verify_log(
    storage: Storage, *, batch: int = 5000, want: Collection[tuple[str, int]] = ()
) -> AuditReport:
    report = AuditReport()
    wanted = set(want)
    before = await storage.audit_heads()
    seen: dict[str, str] = {}
    """Hash of each chain's entry that its state recorded as head when the walk began."""
    chains = sorted(set(await storage.audit_chains()) | before.keys())
    for chain in chains:
        walk = Walk(chain)
        start = before.get(chain, (0, GENESIS))
        async for row in storage.audit_rows(chain, batch=batch):
            report.count += 1
            reason = walk.step(row.id, row.content, row.prev_hash, row.hash)
            if reason is None and content_of(row.id, row.entry, walk.format) != row.content:
                reason = "columns differ from the hashed content"
            if reason is not None:
                report.first_broken, report.broken_chain, report.reason = row.id, chain, reason
                break
            report.formats[walk.format] = report.formats.get(walk.format, 0) + 1
            if row.id == start[0]:
                seen[chain] = row.hash
            if (chain, row.id) in wanted:
                report.hashes[(chain, row.id)] = row.hash
        report.legacy_time_steps_back += walk.legacy_time_steps_back
        report.heads[chain] = walk.head
        if not report.ok:
            return report
    # A server still running appends meanwhile: each chain must end between the head its state
    # recorded before the walk and the one it records now, and hold both.
    after = await storage.audit_heads()
    for chain in chains:
        head = report.heads[chain]
        low, high = before.get(chain, (0, GENESIS)), after.get(chain, (0, GENESIS))
        problem = None
        if head.id < low[0] or (low[0] and seen.get(chain) != low[1]):
            problem = (
                f"the chain ends at entry {head.id} but its state records head {low[0]} (entries removed?)"
            )
        elif head.id > high[0]:
            problem = f"entries after the head its state records ({high[0]}) (inserted behind its back?)"
        elif head.id == high[0] and (head.hash if head.id else GENESIS) != high[1]:
            problem = f"its head {head.id} has another hash than its state records (rewritten?)"
        if problem is not None:
            report.first_broken, report.broken_chain, report.reason = head.id, chain, problem
            return report
    return report
