"""The storage interface the sync engine talks to.

A backend (sync.memory for tests, server.storage.sqlite, server.storage.postgres) implements
`SyncStore`. The engine never sees SQL: it reads what a batch needs inside one write transaction,
decides everything in memory, and hands the backend one `BatchEffects` to persist atomically.

Revisions are counted per warehouse. A write transaction holds the warehouses it writes (SQLite:
the one writer connection; PostgreSQL: their `warehouse_state` rows, locked FOR UPDATE in sorted
order) and the pushing client's numbering (PostgreSQL: its `client_state` row), so each warehouse's
revisions are handed out in commit order and a reader's cursor of a warehouse can never skip a
change that committed late. Nothing is shared by pushes to different warehouses.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable

from msgspec import Struct

from sync.domain import Member, Template
from sync.messages import Change, Digest, MutationResult


class Record(Struct, kw_only=True):
    """A synced record as stored, with the per-field merge bookkeeping."""

    id: str
    collection: str
    warehouse_id: str
    revision: int
    fields: dict[str, Any]
    field_revs: dict[str, int]
    """Server revision of each field's last change: the base of the three-way merge."""
    field_hlcs: dict[str, str]
    """HLC of each field's last change, for last-writer-wins fields."""
    field_by: dict[str, str] = {}
    """User id of each field's last author, so a conflict can say who wrote the other value."""
    deleted: bool = False
    created_by: str = ""
    updated_by: str = ""
    created_at: str = ""
    updated_at: str = ""

    def to_change(self) -> Change:
        return Change(
            id=self.id,
            collection=self.collection,
            warehouse_id=self.warehouse_id,
            revision=self.revision,
            fields=self.fields,
            deleted=self.deleted,
            created_by=self.created_by,
            updated_by=self.updated_by,
            updated_at=self.updated_at,
        )


class StoredOutcome(Struct, kw_only=True, frozen=True):
    """The answer to one mutation, kept so a retried push is answered identically.

    Rejected mutations keep their full body (`mutation`, JSON) so the supervisor can see them; the
    others leave it empty (b""): their body is in the audit log already, and writing it twice cost
    a fifth of a large push's database time.
    """

    client_id: str
    seq: int
    user_id: str
    warehouse_id: str | None
    collection: str
    record_id: str
    op: str
    result: MutationResult
    mutation: bytes
    at: str


class AuditEntry(Struct, kw_only=True, frozen=True):
    """Content of one audit-log entry. The backend chains it (sync.audit) when appending."""

    at: str
    kind: str
    actor_id: str
    actor_agency: str
    device: str
    warehouse_id: str | None
    subject: str
    detail: dict[str, Any]


class AlertEvent(Struct, kw_only=True, frozen=True):
    """Something the people who must act are told about (sync.alerts), written to the outbox in the
    transaction of its cause. `key` is unique per occurrence: writing it twice raises it once."""

    key: str
    event: str
    warehouse_id: str
    subject: str
    """collection/id of the record it is about."""
    record: dict[str, Any]
    """The record as a supervisor sees it when the event was raised (sync.messages.Change's fields)."""
    occurred_at: str


class AttachmentRef(Struct, kw_only=True, frozen=True):
    """A record references a photo. Kept for every reference, uploaded or not."""

    sha256: str
    record_id: str
    client_id: str
    warehouse_id: str = ""
    """The warehouse of the referencing record (the photo's reference is kept with it)."""


class ReportCounter(Struct, kw_only=True, frozen=True):
    """The berita acara numbers of one warehouse in one year: the warehouse's code (what the
    number carries) and the last number given (0: none yet)."""

    warehouse_code: str
    last: int


class ReportNumbers(Struct, kw_only=True, frozen=True):
    """A warehouse's last berita acara number of a year, as a push leaves it."""

    warehouse_id: str
    year: int
    last: int


class BatchEffects(Struct, kw_only=True):
    """Everything one push changes, written by the backend in one transaction."""

    client_id: str
    user_id: str
    last_seq: int
    revisions: dict[str, int]
    """The highest revision handed out in each warehouse the batch wrote; each warehouse's counter
    moves to it."""
    records: list[Record]
    """Final state of every record the batch touched (conflict records included)."""
    outcomes: list[StoredOutcome]
    digests: dict[str, Digest]
    """New digest of every warehouse the batch touched."""
    audit: list[AuditEntry]
    attachment_refs: list[AttachmentRef]
    alerts: list[AlertEvent] = []
    """Events for the alert outbox (sync.alerts.raised), written in the same transaction."""
    report_numbers: list[ReportNumbers] = []
    """Counters of berita acara numbers the batch moved (submits), written with everything else."""


class TransactionLost(Exception):
    """Raised by a store's write() when the transaction a batch shared with other pushes (group
    commit) was lost before its COMMIT through no fault of this batch: nothing of it was written,
    and the engine runs the batch again."""


TRANSACTION_ATTEMPTS = 3
"""How often the engine runs a batch whose shared transaction was lost (TransactionLost)."""


class WriteTx(Protocol):
    """Reads of a write transaction. Everything read here is stable until the commit."""

    async def client_last_seq(self, client_id: str) -> int: ...

    async def outcomes(self, client_id: str, seqs: Sequence[int]) -> dict[int, MutationResult]: ...

    async def records(self, ids: Sequence[str]) -> dict[str, Record]: ...

    async def revisions(self, warehouse_ids: Sequence[str]) -> dict[str, int]:
        """The highest revision handed out so far in each of these warehouses (0 for one never
        written). The transaction holds each of them until it ends: a backend with concurrent
        writers locks the ones it did not lock already in prefetch()."""
        ...

    async def digests(self, warehouse_ids: Sequence[str]) -> dict[str, Digest]: ...

    async def attachments_present(self, hashes: Sequence[str]) -> set[str]: ...

    async def template(self, template_id: str) -> Template | None: ...

    async def members(self, warehouse_id: str) -> dict[str, Member]:
        """Active (not disabled) users assigned to the warehouse, by user id: who may sign an
        inspection of it as a co-inspector."""
        ...

    async def report_counter(self, warehouse_id: str, year: int) -> ReportCounter:
        """The warehouse's berita acara counter for `year`, held by this transaction until it ends
        (no other push, in this process or another, gives a number of that warehouse and year
        meanwhile: a counter row per (warehouse, year), never one shared by two warehouses)."""
        ...

    async def commit(self, effects: BatchEffects) -> None:
        """Persist the batch. The transaction ends when the context manager exits; if commit() was
        not called (an exception), nothing of the batch is written."""
        ...


@runtime_checkable
class ChangeFeed(Protocol):
    """Optional fast path of a ReadTx: the pull feed as Changes straight from the backend (SQLite
    passes each record's stored `fields` JSON through untouched instead of decoding it). Here, not
    beside feed() in sync/engine.py: a Protocol must stay Python, and engine.py is compiled."""

    async def change_feed(self, warehouse_id: str, after: int, limit: int) -> list[Change]: ...


@runtime_checkable
class Prefetch(Protocol):
    """Optional for a WriteTx whose reads are costly one by one (SQLite: each is a round trip to
    its thread, made while the writer lock is held): the engine announces what a push will read,
    the backend fetches it in one go and answers the following reads of those keys from it."""

    async def prefetch(
        self, client_id: str, ids: Sequence[str], warehouse_ids: Sequence[str], hashes: Sequence[str]
    ) -> None:
        """Hold the client's numbering and the warehouses the push may write (`warehouse_ids` and
        those of the records `ids`, in sorted order), then read the client's last number, their
        revisions, the records, their digests and which photo `hashes` are stored."""
        ...


@runtime_checkable
class PullPrefetch(Protocol):
    """Optional for a ReadTx, as Prefetch is for a WriteTx: what a pull reads besides the changes
    themselves, in one go, answering the following reads of the same keys."""

    async def prefetch_pull(
        self, warehouse_ids: Sequence[str], client_id: str, after_seq: int, limit: int
    ) -> None:
        """The tombstone horizons and the digests of `warehouse_ids`, the client's outcome revisions
        after `after_seq` (at most `limit`) and its missing attachments."""
        ...


class ReadTx(Protocol):
    """A consistent snapshot for a pull."""

    async def changes(self, warehouse_id: str, after: int, limit: int) -> list[Record]: ...

    async def digests(self, warehouse_ids: Sequence[str]) -> dict[str, Digest]: ...

    async def tombstone_horizons(self, warehouse_ids: Sequence[str]) -> dict[str, int]:
        """Per warehouse, the revision up to which its tombstones may have been purged; an older
        cursor of that warehouse must reset. Warehouses never purged may be left out (0)."""
        ...

    async def outcome_revisions(
        self, client_id: str, after_seq: int, limit: int
    ) -> list[tuple[int, str | None, int | None]]:
        """(seq, warehouse_id, revision) of the client's mutations after `after_seq`, by seq."""
        ...

    async def missing_attachments(self, client_id: str) -> list[str]: ...


class SyncStore(Protocol):
    def write(self) -> AbstractAsyncContextManager[WriteTx]:
        """Begin the (serialized) write transaction for one push batch."""
        ...

    def read(self) -> AbstractAsyncContextManager[ReadTx]: ...
