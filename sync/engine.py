"""The sync engine: applies a phone's batch of mutations and answers its pulls.

A push runs in one write transaction of the store:

1. check the protocol, schema and numbering (refusing the whole batch with a SyncError);
2. answer mutations already applied by an earlier push from their stored outcomes (exactly once);
3. load every record the new mutations touch in one read;
4. apply each mutation in client order in memory: domain rules (scope, role, state machine,
   required answers), then the field-level merge; a refused mutation is answered "rejected" and
   still consumes its number;
5. hand the store one BatchEffects: records, outcomes, client's last number, digests, audit.

Either all of it commits or none of it does, so a crash mid-batch is repaired by the client's retry.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import msgspec

from sync import digest as digests_
from sync.clock import HybridClock, parse_hlc
from sync.collections import COLLECTIONS, CollectionSpec
from sync.domain import Actor, Template
from sync.errors import (
    BatchInvalid,
    ClientMismatch,
    ClockAhead,
    ProtocolMismatch,
    Rejection,
    SequenceGap,
)
from sync.merge import FieldMerge, merge_field, validate
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
from sync.rules import (
    changed_since,
    check_answers,
    check_patch_allowed,
    conflict_id,
    created_system_fields,
    field_spec,
    incident_transition,
    is_union_merge,
    only_fields,
    photo_hashes,
    review_transition,
    stamp_entries,
    stock_level_id,
)
from sync.store import (
    AttachmentRef,
    AuditEntry,
    BatchEffects,
    Prefetch,
    PullPrefetch,
    ReadTx,
    Record,
    StoredOutcome,
    SyncStore,
    WriteTx,
)
from sync.upgrade import check_schema, upgrade

__all__ = ["SyncEngine", "conflict_id", "photo_hashes", "stock_level_id"]

_REQUIRED: dict[str, tuple[str, ...]] = {
    name: tuple(n for n, f in spec.fields.items() if f.required) for name, spec in COLLECTIONS.items()
}
"""Fields each collection requires on create, in declaration order."""


MAX_CLOCK_AHEAD_MS = 60 * 60 * 1000
"""How far ahead of the server's clock a mutation's stamp may be. Phones correct their clock by the
server's (static/js/server-time.js), so only a wrong date on a phone (or an old app) gets near it."""

REFLECT_WINDOW = 10_000
"""Outcomes a pull looks at past the phone's acknowledged number to tell how far its own mutations
are reflected in the changes it has been sent."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@runtime_checkable
class ChangeFeed(Protocol):
    """Optional fast path of a ReadTx: the pull feed as Changes straight from the backend (SQLite
    passes each record's stored `fields` JSON through untouched instead of decoding it)."""

    async def change_feed(self, warehouse_id: str, after: int, limit: int) -> list[Change]: ...


async def feed(rx: ReadTx, warehouse_id: str, after: int, limit: int, *, wire: bool = False) -> list[Change]:
    """Changes of a warehouse after a cursor, in revision order, at most `limit`. With `wire` (the
    answer only goes to the JSON encoder) a backend's ChangeFeed may leave `fields` as raw JSON."""
    if wire and isinstance(rx, ChangeFeed):
        return await rx.change_feed(warehouse_id, after, limit)
    return [r.to_change() for r in await rx.changes(warehouse_id, after, limit)]


class _Batch:
    """Working state of one push: records as they change, revisions handed out, effects so far."""

    def __init__(self, tx: WriteTx, records: dict[str, Record], revision: int) -> None:
        self.tx = tx
        self.records = records
        self.revision = revision
        self.dirty: dict[str, Record] = {}
        self.previous_rev: dict[str, int | None] = {}
        self.templates: dict[str, Template | None] = {}
        self.present: set[str] = set()

    def write(self, record: Record) -> Record:
        """Give a changed record the next revision and remember its previous one for the digest."""
        if record.id not in self.previous_rev:
            old = self.records.get(record.id)
            self.previous_rev[record.id] = old.revision if old is not None else None
        self.revision += 1
        record.revision = self.revision
        self.records[record.id] = record
        self.dirty[record.id] = record
        return record


class _Applied(msgspec.Struct, kw_only=True):
    record: Record | None
    conflicts: list[str]


class SyncEngine:
    def __init__(
        self,
        store: SyncStore,
        clock: HybridClock | None = None,
        now: Callable[[], str] = utc_now,
        max_clock_ahead_ms: int = MAX_CLOCK_AHEAD_MS,
    ) -> None:
        self.store = store
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
        async with self.store.write() as tx:
            if isinstance(tx, Prefetch):
                await tx.prefetch(
                    request.client_id,
                    ids=sorted({m.id for m in mutations}),
                    warehouse_ids=sorted({m.warehouse_id for m in mutations if m.warehouse_id}),
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
        batch = _Batch(tx, records, await tx.revision())
        # Second read: what the first one points at. A conflict decision changes the record it is
        # about; a submit compares counts with the warehouse's expected stock.
        more: set[str] = {str(r.fields["record_id"]) for r in records.values() if r.collection == "conflicts"}
        created = {m.id: m for m in mutations if m.op == "create"}
        for m in mutations:
            if m.collection != "inspections" or m.op != "submit":
                continue
            known = records.get(m.id)
            origin = created.get(m.id)
            home = known.warehouse_id if known else origin.warehouse_id if origin else None
            template_id = (known.fields if known else origin.fields if origin else {}).get("template_id")
            if home and isinstance(template_id, str):
                template = await self._template_or_none(batch, template_id)
                items = template.items() if template else []
                more.update(stock_level_id(home, i.stock_item) for i in items if i.stock_item)
        if more - records.keys():
            records.update(await tx.records(sorted(more - records.keys())))
        hashes = {h for found in photos for h in found}
        batch.present = await tx.attachments_present(sorted(hashes)) if hashes else set()

        now = self.now()
        results: list[MutationResult] = []
        outcomes: list[StoredOutcome] = []
        audit: list[AuditEntry] = []
        refs: list[AttachmentRef] = []
        for m, found in zip(mutations, photos, strict=True):
            warehouse_id: str | None = None
            before = batch.revision
            try:
                applied = await self._apply(batch, actor, client_id, m, now)
                record = applied.record
                warehouse_id = record.warehouse_id if record is not None else None
                referenced = sorted(set(found)) if found else []
                pending = [h for h in referenced if h not in batch.present]
                # Every reference is kept: it says which warehouse may see a photo, and the pending
                # ones are what the pull feed asks this client to upload.
                refs += [AttachmentRef(sha256=h, record_id=m.id, client_id=client_id) for h in referenced]
                result = MutationResult(
                    seq=m.seq,
                    id=m.id,
                    status="conflict" if applied.conflicts else "applied",
                    revision=batch.revision if batch.revision > before else None,
                    conflicts=applied.conflicts,
                    pending_attachments=pending,
                )
            except Rejection as refusal:
                known = batch.records.get(m.id)
                warehouse_id = known.warehouse_id if known is not None else m.warehouse_id
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
                    mutation=msgspec.json.encode(m) if result.status == "rejected" else b"",
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
                        "fields": m.fields,
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
                revision=batch.revision,
                records=list(batch.dirty.values()),
                outcomes=outcomes,
                digests=new_digests,
                audit=audit,
                attachment_refs=refs,
            )
        )
        return results

    async def _apply(self, batch: _Batch, actor: Actor, client_id: str, m: Mutation, now: str) -> _Applied:
        spec = COLLECTIONS[m.collection]
        existing = batch.records.get(m.id)
        if m.op == "create":
            return self._create(batch, actor, spec, m, existing, now)
        if existing is None:
            raise Rejection("not_found", f"{m.collection} {m.id} does not exist")
        if existing.collection != m.collection:
            raise Rejection("wrong_collection", f"{m.id} is a record of {existing.collection}")
        if existing.warehouse_id not in actor.warehouses:
            raise Rejection("out_of_scope", "this warehouse is not assigned to you")
        if m.base_rev > existing.revision:
            raise Rejection("bad_base_rev", f"base revision {m.base_rev} is newer than the server's")
        if m.op not in ("patch", "delete") and m.op not in spec.actions:
            raise Rejection("bad_op", f"{m.op} is not an operation on {m.collection}")
        if m.op == "delete":
            return self._delete(batch, actor, client_id, m, existing, now)
        if existing.deleted and m.op != "resolve":
            # An edit of a record someone deleted meanwhile: keep the edit as a conflict.
            cid = self._conflict(
                batch,
                actor,
                client_id,
                m,
                existing,
                now,
                field="_deleted",
                policy="flag",
                reason="edit_after_delete",
                server_value=True,
                client_value=dict(m.fields) or m.op,
                status="open",
                server_by=existing.updated_by,
                server_hlc=existing.field_hlcs.get("_deleted", ""),
            )
            return _Applied(record=existing, conflicts=[cid])
        if m.op == "patch":
            check_patch_allowed(actor, existing)
            return self._patch(batch, actor, client_id, spec, m, existing, m.fields, now)
        if m.collection == "inspections":
            return await self._inspection_action(batch, actor, client_id, m, existing, now)
        if m.collection == "incidents":
            return self._incident_action(batch, actor, m, existing, now)
        return self._resolve_conflict(batch, actor, m, existing, now)

    # ------------------------------------------------------------ operations

    def _create(
        self,
        batch: _Batch,
        actor: Actor,
        spec: CollectionSpec,
        m: Mutation,
        existing: Record | None,
        now: str,
    ) -> _Applied:
        if existing is not None:
            raise Rejection("already_exists", f"{m.collection} {m.id} already exists")
        if m.warehouse_id is None:
            raise Rejection("warehouse_required", "a new record needs warehouse_id")
        if m.warehouse_id not in actor.warehouses:
            raise Rejection("out_of_scope", "this warehouse is not assigned to you")
        if spec.name == "conflicts":
            raise Rejection("not_allowed", "conflict records are made by the server")
        if spec.name == "stock_levels":
            if not actor.is_supervisor:
                raise Rejection("forbidden", "only a supervisor or admin sets up stock levels")
            if m.id != stock_level_id(m.warehouse_id, str(m.fields.get("item_type", ""))):
                raise Rejection("invalid_value", "a stock level id is sl.<warehouse>.<item_type>")
        fields: dict[str, Any] = {}
        for name, value in m.fields.items():
            field = field_spec(spec, name)
            if field.policy == "system":
                raise Rejection("read_only_field", f"{name} is set by the server")
            validate(name, field, value)
            if field.policy == "counter":
                value = value["delta"]
            elif field.policy == "append":
                value = stamp_entries(value, actor, now)
            fields[name] = value
        missing = [n for n in _REQUIRED[spec.name] if n not in fields]
        if missing:
            raise Rejection("required_missing", f"required: {', '.join(missing)}")
        fields.update(created_system_fields(spec.name, actor))
        record = Record(
            id=m.id,
            collection=m.collection,
            warehouse_id=m.warehouse_id,
            revision=0,
            fields=fields,
            field_revs={},
            field_hlcs={},
            field_by={},
            created_by=actor.user_id,
            updated_by=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        batch.write(record)
        record.field_revs = dict.fromkeys(fields, record.revision)
        record.field_hlcs = dict.fromkeys(fields, m.hlc)
        record.field_by = dict.fromkeys(fields, actor.user_id)
        return _Applied(record=record, conflicts=[])

    def _patch(
        self,
        batch: _Batch,
        actor: Actor,
        client_id: str,
        spec: CollectionSpec,
        m: Mutation,
        existing: Record,
        patch: dict[str, Any],
        now: str,
        *,
        system: dict[str, Any] | None = None,
    ) -> _Applied:
        """Merge a patch field by field; `system` carries server-set fields of a domain action."""
        merges: dict[str, tuple[FieldMerge, Any]] = {}
        for name, value in patch.items():
            field = field_spec(spec, name)
            if field.policy == "system":
                raise Rejection("read_only_field", f"{name} is set by the server")
            validate(name, field, value)
            if field.policy == "immutable":
                if value != existing.fields.get(name):
                    raise Rejection("immutable_field", f"{name} cannot change after creation")
                continue
            if field.policy == "append":
                value = stamp_entries(value, actor, now)
            merged = merge_field(
                field,
                current=existing.fields.get(name),
                current_hlc=existing.field_hlcs.get(name, ""),
                incoming=value,
                hlc=m.hlc,
                concurrent=changed_since(existing, name, m.base_rev, client_id),
            )
            merges[name] = (merged, value)
        changed = {n: fm.value for n, (fm, _) in merges.items() if fm.changed}
        changed.update(system or {})
        record = existing
        if changed:
            record = msgspec.structs.replace(
                existing,
                fields={**existing.fields, **changed},
                field_revs=dict(existing.field_revs),
                field_hlcs=dict(existing.field_hlcs),
                field_by=dict(existing.field_by),
                updated_by=actor.user_id,
                updated_at=now,
            )
            batch.write(record)
            for name in changed:
                record.field_revs[name] = record.revision
                record.field_hlcs[name] = m.hlc
                record.field_by[name] = actor.user_id
                if name in merges and is_union_merge(spec, name, *merges[name]):
                    # A union the phone has not seen yet: stamp it as the server's, so the
                    # phone's next offline edit of this field merges again instead of replacing.
                    record.field_hlcs[name] = self.clock.now()
        conflicts = []
        for name, (fm, incoming) in merges.items():
            if fm.conflict is None:
                continue
            server_won = not fm.server_lost
            conflicts.append(
                self._conflict(
                    batch,
                    actor,
                    client_id,
                    m,
                    record,
                    now,
                    field=name,
                    policy=field_spec(spec, name).policy,
                    reason="concurrent_edit",
                    server_value=existing.fields.get(name),
                    client_value=incoming,
                    server_by=existing.field_by.get(name, existing.updated_by),
                    server_hlc=existing.field_hlcs.get(name, ""),
                    status=fm.conflict,
                    winner="server" if server_won else "client",
                )
            )
        return _Applied(record=record, conflicts=conflicts)

    def _delete(
        self, batch: _Batch, actor: Actor, client_id: str, m: Mutation, existing: Record, now: str
    ) -> _Applied:
        if existing.collection in ("conflicts", "stock_levels"):
            raise Rejection("not_allowed", f"{existing.collection} records are never deleted")
        if existing.deleted:
            return _Applied(record=existing, conflicts=[])
        status = existing.fields.get("status")
        if not actor.is_supervisor:
            if existing.created_by != actor.user_id:
                raise Rejection("forbidden", "only its author or a supervisor may delete this record")
            if existing.collection == "inspections" and status not in ("draft", None):
                raise Rejection("inspection_submitted", "a submitted inspection cannot be deleted")
        if any(changed_since(existing, name, m.base_rev, client_id) for name in existing.field_revs):
            # The record changed since the deleting phone saw it: deleting now would silently
            # throw that change away, so keep the record and ask a supervisor.
            cid = self._conflict(
                batch,
                actor,
                client_id,
                m,
                existing,
                now,
                field="_deleted",
                policy="flag",
                reason="delete_after_edit",
                server_value=False,
                client_value=True,
                status="open",
                server_by=existing.updated_by,
                server_hlc="",
            )
            return _Applied(record=existing, conflicts=[cid])
        record = msgspec.structs.replace(existing, deleted=True, updated_by=actor.user_id, updated_at=now)
        batch.write(record)
        record.field_hlcs = {**existing.field_hlcs, "_deleted": m.hlc}
        return _Applied(record=record, conflicts=[])

    async def _inspection_action(
        self, batch: _Batch, actor: Actor, client_id: str, m: Mutation, existing: Record, now: str
    ) -> _Applied:
        status = existing.fields.get("status", "draft")
        if status == "reviewed":
            raise Rejection("inspection_locked", "this inspection has been reviewed and is locked")
        if m.op == "submit":
            if status == "submitted":
                return _Applied(record=existing, conflicts=[])  # a co-inspector submitted first
            template = await self._template(batch, str(existing.fields.get("template_id", "")))
            answers = {**existing.fields, **m.fields}
            findings = check_answers(template, answers, batch.records, existing.warehouse_id)
            system = {
                "status": "submitted",
                "submitted_at": now,
                "submitted_by": actor.user_id,
                "findings": findings,
            }
            return self._patch(
                batch, actor, client_id, COLLECTIONS["inspections"], m, existing, m.fields, now, system=system
            )
        return self._system_change(batch, actor, m, existing, review_transition(actor, m, existing, now), now)

    def _incident_action(
        self, batch: _Batch, actor: Actor, m: Mutation, existing: Record, now: str
    ) -> _Applied:
        system = incident_transition(actor, m, existing, now)
        if system is None:
            return _Applied(record=existing, conflicts=[])  # already there: two officers acknowledged
        return self._system_change(batch, actor, m, existing, system, now)

    def _resolve_conflict(
        self, batch: _Batch, actor: Actor, m: Mutation, conflict: Record, now: str
    ) -> _Applied:
        if not actor.is_supervisor:
            raise Rejection("forbidden", "only a supervisor resolves conflicts")
        only_fields(m, {"value"})
        if "value" not in m.fields:
            raise Rejection("value_required", "say which value to keep")
        if conflict.fields.get("status") == "resolved":
            raise Rejection("already_resolved", "another supervisor has already decided this conflict")
        target = batch.records.get(str(conflict.fields.get("record_id")))
        if target is None:
            raise Rejection("not_found", "the record of this conflict no longer exists")
        conflicts: list[str] = []
        name = str(conflict.fields.get("field"))
        value = m.fields["value"]
        if name == "_deleted":
            if not isinstance(value, bool):
                raise Rejection("invalid_value", "value: true deletes the record, false keeps it")
            restored = msgspec.structs.replace(
                target,
                deleted=value,
                field_revs=dict(target.field_revs),
                field_hlcs=dict(target.field_hlcs),
                field_by=dict(target.field_by),
                updated_by=actor.user_id,
                updated_at=now,
            )
            client_fields = conflict.fields.get("client_value")
            if not value and target.deleted and isinstance(client_fields, dict):
                # Keeping a record whose edit arrived after its deletion: the edit takes effect too,
                # merged by each field's policy so appended notes and added photos keep the others.
                restored.fields = {**target.fields, **_kept_edit(target, conflict, client_fields, now)}
            batch.write(restored)
            for changed in client_fields if (not value and isinstance(client_fields, dict)) else ():
                restored.field_revs[changed] = restored.revision
        else:
            field = field_spec(COLLECTIONS[target.collection], name)
            validate(name, field, value)
            current = target.fields.get(name)
            known = (conflict.fields.get("server_value"), conflict.fields.get("client_value"))
            if current != value and current not in known:
                # The field changed again after the conflict arose, and the supervisor decided
                # without seeing that newer value: keep it too, as a new conflict.
                newer = self._conflict(
                    batch,
                    actor,
                    actor.client_id,
                    m,
                    target,
                    now,
                    field=name,
                    policy="flag",
                    reason="resolution_overrode",
                    server_value=current,
                    client_value=value,
                    status="open",
                    server_by=target.field_by.get(name, target.updated_by),
                    server_hlc=target.field_hlcs.get(name, ""),
                    winner="client",
                )
                conflicts.append(newer)
            updated = msgspec.structs.replace(
                target,
                fields={**target.fields, name: value},
                field_revs=dict(target.field_revs),
                field_hlcs=dict(target.field_hlcs),
                field_by=dict(target.field_by),
                updated_by=actor.user_id,
                updated_at=now,
            )
            batch.write(updated)
            updated.field_revs[name] = updated.revision
            updated.field_hlcs[name] = m.hlc
            updated.field_by[name] = actor.user_id
        decided = msgspec.structs.replace(
            conflict,
            fields={
                **conflict.fields,
                "status": "resolved",
                "resolution": value,
                "resolved_by": actor.user_id,
                "resolved_at": now,
            },
            updated_by=actor.user_id,
            updated_at=now,
        )
        batch.write(decided)
        return _Applied(record=decided, conflicts=conflicts)

    # --------------------------------------------------------------- helpers

    def _system_change(
        self, batch: _Batch, actor: Actor, m: Mutation, existing: Record, system: dict[str, Any], now: str
    ) -> _Applied:
        record = msgspec.structs.replace(
            existing,
            fields={**existing.fields, **system},
            field_revs=dict(existing.field_revs),
            field_hlcs=dict(existing.field_hlcs),
            field_by=dict(existing.field_by),
            updated_by=actor.user_id,
            updated_at=now,
        )
        batch.write(record)
        for name in system:
            record.field_revs[name] = record.revision
            record.field_hlcs[name] = m.hlc
            record.field_by[name] = actor.user_id
        return _Applied(record=record, conflicts=[])

    def _conflict(
        self,
        batch: _Batch,
        actor: Actor,
        client_id: str,
        m: Mutation,
        record: Record,
        now: str,
        *,
        field: str,
        policy: str,
        reason: str,
        server_value: Any,
        client_value: Any,
        server_by: str,
        server_hlc: str,
        status: str,
        winner: str = "server",
    ) -> str:
        """Keep the losing side of a concurrent change as a conflict record, synced like any other."""
        cid = conflict_id(client_id or actor.user_id, m.seq, field)
        fields = {
            "record_id": record.id,
            "record_collection": record.collection,
            "field": field,
            "policy": policy,
            "reason": reason,
            "base_rev": m.base_rev,
            "server_value": server_value,
            "server_by": server_by,
            "server_hlc": server_hlc,
            "client_value": client_value,
            "client_by": actor.user_id,
            "client_hlc": m.hlc,
            "client_id": client_id,
            "seq": m.seq,
            "status": status,
            "winner": winner,
            "at": now,
        }
        conflict = Record(
            id=cid,
            collection="conflicts",
            warehouse_id=record.warehouse_id,
            revision=0,
            fields=fields,
            field_revs={},
            field_hlcs={},
            field_by={},
            created_by=actor.user_id,
            updated_by=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        batch.write(conflict)
        conflict.field_revs = dict.fromkeys(fields, conflict.revision)
        return cid

    async def _template_or_none(self, batch: _Batch, template_id: str) -> Template | None:
        if template_id not in batch.templates:
            batch.templates[template_id] = await batch.tx.template(template_id)
        return batch.templates[template_id]

    async def _template(self, batch: _Batch, template_id: str) -> Template:
        template = await self._template_or_none(batch, template_id)
        if template is None:
            raise Rejection("unknown_template", f"template {template_id} is not published")
        return template

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
            horizon = await rx.tombstone_horizon()
            drop = sorted(w for w in request.cursors if w not in actor.warehouses)
            reset = [w for w in scope if 0 < request.cursors.get(w, 0) < horizon]
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
        )


# ------------------------------------------------------------------ rules


def _kept_edit(target: Record, conflict: Record, edit: dict[str, Any], now: str) -> dict[str, Any]:
    """The fields an edit-after-delete sets when a supervisor keeps the record."""
    spec = COLLECTIONS[target.collection]
    author = Actor(
        user_id=str(conflict.fields.get("client_by", "")),
        username="",
        role="officer",
        agency="",
        warehouses=frozenset(),
    )
    kept: dict[str, Any] = {}
    for name, value in edit.items():
        field = spec.field(name)
        if field is None or field.policy in ("system", "immutable", "counter"):
            continue  # refused when the edit arrived; counters live on records never deleted
        current = target.fields.get(name)
        if field.policy == "append":
            value = stamp_entries(value, author, now)
        if field.policy in ("append", "union"):
            value = merge_field(
                field, current=current, current_hlc="", incoming=value, hlc="", concurrent=True
            ).value
        kept[name] = value
    return kept
