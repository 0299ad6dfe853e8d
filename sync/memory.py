"""An in-memory SyncStore: the reference backend for the engine's unit and property tests.

Writes are staged and applied only on commit, so an exception inside a batch leaves nothing behind,
exactly like a rolled-back database transaction.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from sync.audit import Head, chain_of, seal
from sync.digest import EMPTY
from sync.domain import Member, Template
from sync.messages import Digest, MutationResult
from sync.store import AuditEntry, BatchEffects, Record, ReportCounter, StoredOutcome


class MemoryStore:
    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.last_seq: dict[str, int] = {}
        self.outcome_log: dict[tuple[str, int], StoredOutcome] = {}
        self.digests: dict[str, Digest] = {}
        self.revisions: dict[str, int] = {}
        """Per warehouse, the highest revision handed out."""
        self.horizons: dict[str, int] = {}
        self.templates: dict[str, Template] = {}
        self.members: dict[str, dict[str, Member]] = {}
        """Users assigned to each warehouse (the server's assignments table)."""
        self.report_counters: dict[tuple[str, int], int] = {}
        self.warehouse_codes: dict[str, str] = {}
        """A warehouse's code (what its berita acara numbers carry); its id where not set."""
        self.attachments: set[str] = set()
        self.attachment_refs: set[tuple[str, str, str]] = set()
        self.audit: dict[str, list[tuple[int, bytes, str, str]]] = {}
        """Per chain (sync.audit.chain_of), its entries (id, content, prev_hash, hash)."""
        self.audit_heads: dict[str, Head] = {}
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[_MemoryWriteTx]:
        async with self._lock:
            tx = _MemoryWriteTx(self)
            yield tx
            # Reached only when the block ended without an exception: the "transaction" commits.
            if tx.staged is not None:
                self._apply(tx.staged)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_MemoryReadTx]:
        # Holding the lock gives the read a consistent snapshot, like a database transaction.
        async with self._lock:
            yield _MemoryReadTx(self)

    def _apply(self, effects: BatchEffects) -> None:
        for record in effects.records:
            self.records[record.id] = copy.deepcopy(record)
        for outcome in effects.outcomes:
            self.outcome_log[(outcome.client_id, outcome.seq)] = outcome
        self.last_seq[effects.client_id] = effects.last_seq
        self.digests.update(effects.digests)
        for warehouse_id, revision in effects.revisions.items():
            self.revisions[warehouse_id] = max(self.revisions.get(warehouse_id, 0), revision)
        for entry in effects.audit:
            self.append_audit(entry)
        self.attachment_refs.update((r.sha256, r.record_id, r.client_id) for r in effects.attachment_refs)
        for counter in effects.report_numbers:
            self.report_counters[(counter.warehouse_id, counter.year)] = counter.last

    def append_audit(self, entry: AuditEntry) -> None:
        chain = chain_of(entry)
        head = self.audit_heads.get(chain, Head())
        sealed = seal(head, entry)
        self.audit.setdefault(chain, []).append((sealed.head.id, sealed.content, head.hash, sealed.head.hash))
        self.audit_heads[chain] = sealed.head


class _MemoryWriteTx:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.staged: BatchEffects | None = None

    async def client_last_seq(self, client_id: str) -> int:
        return self.store.last_seq.get(client_id, 0)

    async def outcomes(self, client_id: str, seqs: Sequence[int]) -> dict[int, MutationResult]:
        found = {seq: self.store.outcome_log.get((client_id, seq)) for seq in seqs}
        return {seq: o.result for seq, o in found.items() if o is not None}

    async def records(self, ids: Sequence[str]) -> dict[str, Record]:
        # Copies: the engine may change what it reads, and nothing may leak without a commit.
        return {i: copy.deepcopy(self.store.records[i]) for i in ids if i in self.store.records}

    async def revisions(self, warehouse_ids: Sequence[str]) -> dict[str, int]:
        # The store's lock holds every warehouse: one writer at a time.
        return {w: self.store.revisions.get(w, 0) for w in warehouse_ids}

    async def digests(self, warehouse_ids: Sequence[str]) -> dict[str, Digest]:
        return {w: self.store.digests.get(w, EMPTY) for w in warehouse_ids}

    async def attachments_present(self, hashes: Sequence[str]) -> set[str]:
        return {h for h in hashes if h in self.store.attachments}

    async def template(self, template_id: str) -> Template | None:
        return self.store.templates.get(template_id)

    async def members(self, warehouse_id: str) -> dict[str, Member]:
        return dict(self.store.members.get(warehouse_id, {}))

    async def report_counter(self, warehouse_id: str, year: int) -> ReportCounter:
        return ReportCounter(
            warehouse_code=self.store.warehouse_codes.get(warehouse_id, warehouse_id),
            last=self.store.report_counters.get((warehouse_id, year), 0),
        )

    async def commit(self, effects: BatchEffects) -> None:
        self.staged = copy.deepcopy(effects)


class _MemoryReadTx:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def changes(self, warehouse_id: str, after: int, limit: int) -> list[Record]:
        found = [
            r for r in self.store.records.values() if r.warehouse_id == warehouse_id and r.revision > after
        ]
        found.sort(key=lambda r: r.revision)
        return [copy.deepcopy(r) for r in found[:limit]]

    async def digests(self, warehouse_ids: Sequence[str]) -> dict[str, Digest]:
        return {w: self.store.digests.get(w, EMPTY) for w in warehouse_ids}

    async def tombstone_horizons(self, warehouse_ids: Sequence[str]) -> dict[str, int]:
        return {w: self.store.horizons[w] for w in warehouse_ids if w in self.store.horizons}

    async def outcome_revisions(
        self, client_id: str, after_seq: int, limit: int
    ) -> list[tuple[int, str | None, int | None]]:
        rows = sorted(
            (seq, o.warehouse_id, o.result.revision)
            for (cid, seq), o in self.store.outcome_log.items()
            if cid == client_id and seq > after_seq
        )
        return rows[:limit]

    async def missing_attachments(self, client_id: str) -> list[str]:
        return sorted(
            {sha for sha, _, cid in self.store.attachment_refs if cid == client_id} - self.store.attachments
        )
