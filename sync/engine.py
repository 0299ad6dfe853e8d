"""The sync engine: applies a phone's batch of mutations and answers its pulls.

A push runs in one write transaction of the store:

1. check the protocol, schema and numbering (refusing the whole batch with a SyncError);
2. answer mutations already applied by an earlier push from their stored outcomes (exactly once);
3. load every record the new mutations touch in one read;
4. apply each mutation in client order in memory: domain rules (scope, role, state machine,
   required answers), then the field-level merge; a refused mutation is answered "rejected" and
   still consumes its number;
5. hand the store one BatchEffects: records, outcomes, client's last number, digests, audit and
   the alert events the changes raise (sync.alerts).

Either all of it commits or none of it does, so a crash mid-batch is repaired by the client's retry.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from sync import alerts as alerts_
from sync import digest as digests_
from sync.clock import HybridClock, parse_hlc
from sync.domain import Actor
from sync.errors import (
    BatchInvalid,
    ClientMismatch,
    ClockAhead,
    ProtocolMismatch,
    Rejection,
    SequenceGap,
)
from sync.messages import (
    PROTOCOL_VERSION,
    Change,
    Digest,
    Mutation,
    MutationResult,
    PullRequest,
    PullResponse,
    PushRequest,
    PushResponse,
)
from sync.op_types import Applied
from sync.ops import EDITS_AFTER_DELETE_APPLY, OPERATIONS, Batch, OpContext, edit_after_delete
from sync.rules import conflict_id, photo_hashes, stock_level_id
from sync.store import (
    TRANSACTION_ATTEMPTS,
    AttachmentRef,
    AuditEntry,
    BatchEffects,
    ChangeFeed,
    Prefetch,
    PullPrefetch,
    ReadTx,
    StoredOutcome,
    SyncStore,
    TransactionLost,
    WriteTx,
)
from sync.upgrade import check_schema, upgrade

__all__ = ["SyncEngine", "conflict_id", "photo_hashes", "stock_level_id"]

MAX_CLOCK_AHEAD_MS = 60 * 60 * 1000
"""How far ahead of the server's clock a mutation's stamp may be. Phones correct their clock by the
server's (static/js/server-time.js), so only a wrong date on a phone (or an old app) gets near it."""

REFLECT_WINDOW = 10_000
"""Outcomes a pull looks at past the phone's acknowledged number to tell how far its own mutations
are reflected in the changes it has been sent."""


MAX_KEPT_BODY = 16 * 1024
"""Bytes of a refused mutation's body kept for the supervisor to see (and its fields in the audit
trail); a longer one keeps its size and SHA-256 instead. Applied mutations are bounded by the field
rules already."""


def bounded_fields(m: Mutation) -> dict[str, Any]:
    """A refused mutation's fields as the audit trail keeps them: whole when small, else a digest."""
    body = msgspec.json.encode(m.fields)
    if len(body) <= MAX_KEPT_BODY:
        return m.fields
    return {"_truncated": {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}}


def kept_body(m: Mutation) -> bytes:
    """The stored body of a refused mutation, bounded by MAX_KEPT_BODY."""
    body = msgspec.json.encode(m)
    if len(body) <= MAX_KEPT_BODY:
        return body
    return msgspec.json.encode(msgspec.structs.replace(m, fields=bounded_fields(m)))


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def feed(rx: ReadTx, warehouse_id: str, after: int, limit: int, *, wire: bool = False) -> list[Change]:
    """Changes of a warehouse after a cursor, in revision order, at most `limit`. With `wire` (the
    answer only goes to the JSON encoder) a backend's ChangeFeed may leave `fields` as raw JSON."""
    if wire and isinstance(rx, ChangeFeed):
        return await rx.change_feed(warehouse_id, after, limit)
    return [r.to_change() for r in await rx.changes(warehouse_id, after, limit)]


class SyncEngine:
    def __init__(
        self,
        store: SyncStore,
        clock: HybridClock | None = None,
        now: Callable[[], str] = utc_now,
        max_clock_ahead_ms: int = MAX_CLOCK_AHEAD_MS,
        utc_offset_hours: float = 7,
    ) -> None:
        self.store = store
        self.utc_offset_hours = utc_offset_hours
        """The local zone whose year a berita acara number carries (WIB 7, WITA 8, WIT 9)."""
        self.clock = clock or HybridClock("server")
        self.now = now
        self.max_clock_ahead_ms = max_clock_ahead_ms

    # ----------------------------------------------------------------- push

    async def push(self, actor: Actor, request: PushRequest) -> PushResponse:
        if request.protocol != PROTOCOL_VERSION:
            raise ProtocolMismatch(
                f"protocol {request.protocol} is not supported; this server speaks {PROTOCOL_VERSION}",
                supported=PROTOCOL_VERSION,
            )
        check_schema(request.schema_version)
        if actor.client_id and actor.client_id != request.client_id:
            raise ClientMismatch("this device is registered with another client id")
        mutations = [upgrade(m) for m in request.mutations]
        for before, after in itertools.pairwise(mutations):
            if after.seq != before.seq + 1:
                raise BatchInvalid(
                    f"mutation numbers must follow each other: {before.seq} then {after.seq}",
                    at_seq=after.seq,
                )
        latest = self.clock.wall_ms() + self.max_clock_ahead_ms
        for m in mutations:
            stamp_ms, _, node = parse_hlc(m.hlc)
            if node != request.client_id:
                raise BatchInvalid(
                    f"mutation {m.seq}: the clock stamp's node must be the client id", at_seq=m.seq
                )
            if stamp_ms > latest:
                hours = (stamp_ms - latest + self.max_clock_ahead_ms) / 3_600_000
                raise ClockAhead(
                    f"mutation {m.seq}: its clock stamp is {hours:,.1f} hours ahead of the server; "
                    "correct the phone's date and time, or stamp it again by the server's clock",
                    at_seq=m.seq,
                    server_hlc=self.clock.now(),
                    server_time_ms=self.clock.wall_ms(),
                )
        for m in mutations:
            self.clock.receive(m.hlc)

        photos = [photo_hashes(m.fields) for m in mutations]
        for _ in range(TRANSACTION_ATTEMPTS - 1):
            try:
                return await self._push_in_transaction(actor, request, mutations, photos)
            except TransactionLost:
                continue  # nothing of it was written: the same batch again, on the state as it is
        return await self._push_in_transaction(actor, request, mutations, photos)

    async def _push_in_transaction(
        self, actor: Actor, request: PushRequest, mutations: list[Mutation], photos: list[list[str]]
    ) -> PushResponse:
        async with self.store.write() as tx:
            if isinstance(tx, Prefetch):
                await tx.prefetch(
                    request.client_id,
                    ids=sorted({m.id for m in mutations}),
                    # Only warehouses the pusher may write are held on its word; the records' own
                    # warehouses are found by the backend.
                    warehouse_ids=sorted(
                        {m.warehouse_id for m in mutations if m.warehouse_id in actor.warehouses}
                    ),
                    hashes=sorted({h for found in photos for h in found}),
                )
            last_seq = await tx.client_last_seq(request.client_id)
            seen = [m for m in mutations if m.seq <= last_seq]
            fresh = [m for m in mutations if m.seq > last_seq]
            if fresh and fresh[0].seq != last_seq + 1:
                raise SequenceGap(
                    f"mutation {last_seq + 1} is missing: the server has up to {last_seq}, "
                    f"this batch starts at {fresh[0].seq}",
                    expected_seq=last_seq + 1,
                )
            results: list[MutationResult] = []
            if seen:
                stored = await tx.outcomes(request.client_id, [m.seq for m in seen])
                for m in seen:
                    old = stored.get(m.seq)
                    if old is None:
                        old = MutationResult(seq=m.seq, id=m.id, status="applied", code="outcome_forgotten")
                    results.append(msgspec.structs.replace(old, replayed=True))
            if fresh:
                results += await self._apply_batch(tx, actor, request.client_id, fresh, photos[len(seen) :])
            return PushResponse(
                results=results,
                last_seq=max(last_seq, fresh[-1].seq if fresh else 0),
                server_hlc=self.clock.now(),
                server_time_ms=self.clock.wall_ms(),
            )

    async def _apply_batch(
        self, tx: WriteTx, actor: Actor, client_id: str, mutations: list[Mutation], photos: list[list[str]]
    ) -> list[MutationResult]:
        records = await tx.records(sorted({m.id for m in mutations}))
        batch = Batch(tx, records, {}, utc_offset_hours=self.utc_offset_hours)
        # Second read: what the first one points at, as each operation declares (a conflict
        # decision changes the record it is about; a submit compares counts with stock levels).
        more: set[str] = set()
        created = {m.id: m for m in mutations if m.op == "create"}
        for m in mutations:
            op = OPERATIONS.get((m.collection, m.op))
            if op is None or op.reads is None:
                continue
            known = records.get(m.id)
            origin = created.get(m.id)
            template_id = (known.fields if known else origin.fields if origin else {}).get("template_id")
            template = (
                await batch.template_or_none(template_id)
                if m.collection == "inspections" and isinstance(template_id, str)
                else None
            )
            more.update(op.reads(m, known, origin, template))
        if more - records.keys():
            records.update(await tx.records(sorted(more - records.keys())))
        # Every warehouse a mutation may write: those of the records it names and of its creates,
        # within the pusher's scope (nothing is written outside it). The backend holds them all
        # until the commit; no other warehouse is touched.
        writable = {r.warehouse_id for r in records.values()} | {
            m.warehouse_id for m in mutations if m.warehouse_id is not None
        }
        batch.revisions = await tx.revisions(sorted(writable & actor.warehouses))
        hashes = {h for found in photos for h in found}
        batch.present = await tx.attachments_present(sorted(hashes)) if hashes else set()

        now = self.now()
        results: list[MutationResult] = []
        outcomes: list[StoredOutcome] = []
        audit: list[AuditEntry] = []
        refs: list[AttachmentRef] = []
        for m, found in zip(mutations, photos, strict=True):
            warehouse_id: str | None = None
            before = len(batch.writes)
            try:
                applied = await self._apply(batch, actor, client_id, m, now)
                record = applied.record
                warehouse_id = record.warehouse_id if record is not None else applied.warehouse_id
                referenced = sorted(set(found)) if found else []
                pending = [h for h in referenced if h not in batch.present]
                # Every reference is kept: it says which warehouse may see a photo, and the pending
                # ones are what the pull feed asks this client to upload.
                owner = warehouse_id or m.warehouse_id or ""
                refs += [
                    AttachmentRef(sha256=h, record_id=m.id, client_id=client_id, warehouse_id=owner)
                    for h in referenced
                ]
                result = MutationResult(
                    seq=m.seq,
                    id=m.id,
                    status="conflict" if applied.conflicts else "applied",
                    # The revision of the record the mutation names, as it now stands (a conflict
                    # record's own revision is in the pull feed): what the phone's next edit of it
                    # is based on. None when nothing changed.
                    revision=record.revision if record is not None and len(batch.writes) > before else None,
                    conflicts=applied.conflicts,
                    pending_attachments=pending,
                )
            except Rejection as refusal:
                known = batch.records.get(m.id)
                home = known.warehouse_id if known is not None else m.warehouse_id
                # A refused mutation is filed under the warehouse it names only when the pusher
                # may write there: anything else stays with the pushing device (warehouse None),
                # never in another warehouse's queue or trail.
                warehouse_id = home if home in actor.warehouses else None
                result = MutationResult(
                    seq=m.seq, id=m.id, status="rejected", code=refusal.code, message=refusal.message
                )
            results.append(result)
            outcomes.append(
                StoredOutcome(
                    client_id=client_id,
                    seq=m.seq,
                    user_id=actor.user_id,
                    warehouse_id=warehouse_id,
                    collection=m.collection,
                    record_id=m.id,
                    op=m.op,
                    result=result,
                    mutation=kept_body(m) if result.status == "rejected" else b"",
                    at=now,
                )
            )
            audit.append(
                AuditEntry(
                    at=now,
                    kind="mutation",
                    actor_id=actor.user_id,
                    actor_agency=actor.agency,
                    device=client_id,
                    warehouse_id=warehouse_id,
                    subject=f"{m.collection}/{m.id}",
                    detail={
                        "op": m.op,
                        "seq": m.seq,
                        "hlc": m.hlc,
                        "base_rev": m.base_rev,
                        "fields": m.fields if result.status != "rejected" else bounded_fields(m),
                        "status": result.status,
                        "revision": result.revision,
                        "conflicts": result.conflicts,
                        "code": result.code,
                    },
                )
            )

        touched = sorted({r.warehouse_id for r in batch.dirty.values()})
        new_digests = await tx.digests(touched) if touched else {}
        # digest.update() record by record, folded: XOR out each old "id:revision", XOR in the new.
        folded: dict[str, list[int]] = {}
        record_hash = digests_.record_hash
        for record in batch.dirty.values():
            acc = folded.get(record.warehouse_id)
            if acc is None:
                start = new_digests.get(record.warehouse_id, digests_.EMPTY)
                acc = folded[record.warehouse_id] = [int(start.checksum, 16), start.count]
            acc[0] ^= record_hash(record.id, record.revision)
            old_rev = batch.previous_rev[record.id]
            if old_rev is None:
                acc[1] += 1
            else:
                acc[0] ^= record_hash(record.id, old_rev)
        for warehouse_id, (checksum, count) in folded.items():
            new_digests[warehouse_id] = Digest(count=count, checksum=f"{checksum:08x}")
        await tx.commit(
            BatchEffects(
                client_id=client_id,
                user_id=actor.user_id,
                last_seq=mutations[-1].seq,
                revisions={w: r for w, r in batch.revisions.items() if r},
                records=list(batch.dirty.values()),
                outcomes=outcomes,
                digests=new_digests,
                audit=audit,
                attachment_refs=refs,
                alerts=alerts_.raised(batch.writes, now),
                report_numbers=batch.report_numbers(),
            )
        )
        return results

    async def _apply(self, batch: Batch, actor: Actor, client_id: str, m: Mutation, now: str) -> Applied:
        """Checks every operation shares, then the operation's own rules (sync.ops)."""
        existing = batch.records.get(m.id)
        ctx = OpContext(batch, actor, client_id, m, now, self.clock)
        if m.op == "create":
            return await OPERATIONS[(m.collection, "create")].apply(ctx, existing)
        named = OPERATIONS.get((m.collection, m.op))
        if named is not None and named.names_no_record and existing is None:
            return await named.apply(ctx, None)
        if existing is None:
            raise Rejection("not_found", f"{m.collection} {m.id} does not exist")
        # Scope first: nothing else may tell what a record outside it is.
        if existing.warehouse_id not in actor.warehouses:
            raise Rejection("out_of_scope", "this warehouse is not assigned to you")
        if existing.collection != m.collection:
            raise Rejection("wrong_collection", f"{m.id} is a record of {existing.collection}")
        if m.base_rev > existing.revision:
            raise Rejection("bad_base_rev", f"base revision {m.base_rev} is newer than the server's")
        op = OPERATIONS.get((m.collection, m.op))
        if op is None:
            raise Rejection("bad_op", f"{m.op} is not an operation on {m.collection}")
        if existing.deleted and m.op != "delete" and (m.collection, m.op) not in EDITS_AFTER_DELETE_APPLY:
            return await edit_after_delete(ctx, existing)
        return await op.apply(ctx, existing)

    # ----------------------------------------------------------------- pull

    async def pull(self, actor: Actor, request: PullRequest, *, wire: bool = False) -> PullResponse:
        """Changes after the phone's cursors. `wire=True` is for a caller that only encodes the answer
        to JSON (the HTTP layer): the backend may then hand each change's `fields` over as the stored
        JSON text (msgspec.Raw), which the encoder splices unchanged, the same bytes on the wire."""
        if request.protocol != PROTOCOL_VERSION:
            raise ProtocolMismatch(
                f"protocol {request.protocol} is not supported; this server speaks {PROTOCOL_VERSION}",
                supported=PROTOCOL_VERSION,
            )
        if actor.client_id and actor.client_id != request.client_id:
            raise ClientMismatch("this device is registered with another client id")
        scope = sorted(actor.warehouses)
        async with self.store.read() as rx:
            if isinstance(rx, PullPrefetch):
                await rx.prefetch_pull(scope, request.client_id, request.acked_seq, REFLECT_WINDOW)
            horizons = {w: h for w, h in (await rx.tombstone_horizons(scope)).items() if h}
            drop = sorted(w for w in request.cursors if w not in actor.warehouses)
            reset = [w for w in scope if 0 < request.cursors.get(w, 0) < horizons.get(w, 0)]
            changes: list[Change] = []
            cursors: dict[str, int] = {}
            caught_up: list[str] = []
            remaining = request.limit
            for warehouse_id in scope:
                after = 0 if warehouse_id in reset else request.cursors.get(warehouse_id, 0)
                if remaining:
                    page = await feed(rx, warehouse_id, after, remaining + 1, wire=wire)
                    more = len(page) > remaining
                    del page[remaining:]
                else:
                    page, more = [], True
                changes += page
                remaining -= len(page)
                cursors[warehouse_id] = page[-1].revision if page else after
                if not more:
                    caught_up.append(warehouse_id)
            digests: dict[str, Digest] = await rx.digests(caught_up) if caught_up else {}
            for warehouse_id in caught_up:
                digests.setdefault(warehouse_id, digests_.EMPTY)
            reflected = request.acked_seq
            for seq, home, revision in await rx.outcome_revisions(
                request.client_id, request.acked_seq, REFLECT_WINDOW
            ):
                visible = revision is None or home is None or home not in cursors or revision <= cursors[home]
                if not visible:
                    break
                reflected = seq
            missing = await rx.missing_attachments(request.client_id)
        return PullResponse(
            changes=changes,
            cursors=cursors,
            has_more=len(caught_up) < len(scope),
            scope=scope,
            drop=drop,
            reset=reset,
            digests=digests,
            reflected_seq=reflected,
            missing_attachments=missing,
            server_hlc=self.clock.now(),
            server_time_ms=self.clock.wall_ms(),
            tombstone_horizons=horizons,
        )
