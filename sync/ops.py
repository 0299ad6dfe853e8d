"""The operations of the synced collections, one named function per (collection, op).

Like Replicache's mutators: `OPERATIONS` maps each (collection, op) a phone may send to the one
function holding that operation's domain rules. The engine (sync.engine) orchestrates a push —
numbering, scope, outcomes, digests, the transaction — and dispatches each mutation here. A new
operation is one function and one row of the table, with its test beside the others.

An operation gets an `OpContext` (the batch so far, who acts, the mutation, the time) and the record
the mutation names (None for a create), and returns `Applied`: the record as it now stands and the
ids of any conflict records it kept. It writes through the context only (`ctx.write`, `ctx.stamp`,
`ctx.conflict`), so every record it changes gets the batch's next revision and reaches the commit.
Anything it refuses is a `Rejection`, answered "rejected" while the rest of the batch goes on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec

from sync.answers import check_answers_fields, check_seal, normalise_field
from sync.clock import HybridClock, parse_hlc
from sync.collections import COLLECTIONS, CollectionSpec
from sync.domain import Actor, Member, Template, answer_field
from sync.errors import Rejection
from sync.merge import FieldMerge, merge_field, validate
from sync.messages import Mutation
from sync.op_types import Applied, ConflictSide, OpSpec
from sync.roster import (
    MAX_WAREHOUSE_ID,
    canonical_day,
    check_in_flag,
    check_personnel,
    check_shift_times,
    following_shifts,
    handover_id,
    parse_instant,
    parse_week_id,
    planned_people,
    seal_register_id,
    shift_id,
    shift_of_handover,
    week_shift_ids,
)
from sync.roster import instant as roster_instant
from sync.rules import (
    changed_since,
    check_answers,
    check_delete_allowed,
    check_patch_allowed,
    conflict_id,
    created_system_fields,
    field_spec,
    incident_transition,
    is_union_merge,
    local_year,
    only_fields,
    report_number,
    review_transition,
    stamp_entries,
    stock_level_id,
)
from sync.store import Record, ReportCounter, ReportNumbers, WriteTx

REQUIRED: dict[str, tuple[str, ...]] = {
    name: tuple(n for n, f in spec.fields.items() if f.required) for name, spec in COLLECTIONS.items()
}
"""Fields each collection requires on create, in declaration order."""


class Batch:
    """Working state of one push: records as they change, revisions handed out, what was read."""

    def __init__(
        self,
        tx: WriteTx,
        records: dict[str, Record],
        revisions: dict[str, int],
        *,
        utc_offset_hours: float = 7,
    ) -> None:
        self.tx = tx
        self.utc_offset_hours = utc_offset_hours
        """The local zone (WIB 7, WITA 8, WIT 9): which year a berita acara number belongs to."""
        self.report_counters: dict[tuple[str, int], ReportCounter] = {}
        self.report_numbers_used: set[tuple[str, int]] = set()
        self.records = records
        self.revisions = revisions
        """Highest revision handed out in each warehouse the batch holds (WriteTx.revisions)."""
        self.dirty: dict[str, Record] = {}
        self.previous_rev: dict[str, int | None] = {}
        self.templates: dict[str, Template | None] = {}
        self.members_of: dict[str, dict[str, Member]] = {}
        self.present: set[str] = set()
        self.writes: list[tuple[Record | None, Record]] = []
        """Each write as (the record before it, the record written), in order: what alert events
        compare (sync.alerts), so two actions on one record in one batch each raise theirs; its length
        says whether a mutation changed anything."""

    def write(self, record: Record) -> Record:
        """Give a changed record the next revision and remember its previous one for the digest."""
        self.writes.append((self.records.get(record.id), record))
        if record.id not in self.previous_rev:
            old = self.records.get(record.id)
            self.previous_rev[record.id] = old.revision if old is not None else None
        if record.warehouse_id not in self.revisions:
            # The engine holds every warehouse a mutation can write before applying any: a write
            # elsewhere would take a revision no lock protects.
            raise RuntimeError(f"warehouse {record.warehouse_id} is not held by this batch")
        revision = self.revisions[record.warehouse_id] + 1
        self.revisions[record.warehouse_id] = revision
        record.revision = revision
        self.records[record.id] = record
        self.dirty[record.id] = record
        return record

    async def template_or_none(self, template_id: str) -> Template | None:
        if template_id not in self.templates:
            self.templates[template_id] = await self.tx.template(template_id)
        return self.templates[template_id]

    async def members(self, warehouse_id: str) -> dict[str, Member]:
        if warehouse_id not in self.members_of:
            self.members_of[warehouse_id] = await self.tx.members(warehouse_id)
        return self.members_of[warehouse_id]

    async def next_report_number(self, warehouse_id: str, year: int) -> tuple[str, int]:
        """The warehouse's code and the next berita acara number of `year`. Taken only by
        use_report_number(), once the submit holding it has succeeded: a refused submit leaves no gap."""
        key = (warehouse_id, year)
        if key not in self.report_counters:
            self.report_counters[key] = await self.tx.report_counter(warehouse_id, year)
        counter = self.report_counters[key]
        return counter.warehouse_code, counter.last + 1

    def use_report_number(self, warehouse_id: str, year: int, n: int) -> None:
        key = (warehouse_id, year)
        self.report_counters[key] = msgspec.structs.replace(self.report_counters[key], last=n)
        self.report_numbers_used.add(key)

    def report_numbers(self) -> list[ReportNumbers]:
        return [
            ReportNumbers(warehouse_id=w, year=y, last=self.report_counters[(w, y)].last)
            for w, y in sorted(self.report_numbers_used)
        ]

    async def template(self, template_id: str) -> Template:
        template = await self.template_or_none(template_id)
        if template is None:
            raise Rejection("unknown_template", f"template {template_id} is not published")
        return template


class OpContext:
    """One mutation being applied: the batch, who acts from which device, and the time."""

    def __init__(
        self, batch: Batch, actor: Actor, client_id: str, m: Mutation, now: str, clock: HybridClock
    ) -> None:
        self.batch = batch
        self.actor = actor
        self.client_id = client_id
        self.m = m
        self.now = now
        self.clock = clock

    def stamp(self, existing: Record, changes: dict[str, Any], *, deleted: bool | None = None) -> Record:
        """Replace `existing` by a copy with `changes` applied, written at the batch's next revision,
        each changed field stamped with that revision, this mutation's clock and its author."""
        record = msgspec.structs.replace(
            existing,
            fields={**existing.fields, **changes},
            field_revs=dict(existing.field_revs),
            field_hlcs=dict(existing.field_hlcs),
            field_by=dict(existing.field_by),
            deleted=existing.deleted if deleted is None else deleted,
            updated_by=self.actor.user_id,
            updated_at=self.now,
        )
        self.batch.write(record)
        for name in changes:
            record.field_revs[name] = record.revision
            record.field_hlcs[name] = self.m.hlc
            record.field_by[name] = self.actor.user_id
        return record

    def new_record(
        self,
        collection: str,
        record_id: str,
        warehouse_id: str,
        fields: dict[str, Any],
        *,
        attributed: bool = True,
    ) -> Record:
        """A record created by this mutation, every field stamped like `stamp` does (only with its
        revision when not `attributed`: a server-made record such as a conflict)."""
        record = Record(
            id=record_id,
            collection=collection,
            warehouse_id=warehouse_id,
            revision=0,
            fields=fields,
            field_revs={},
            field_hlcs={},
            field_by={},
            created_by=self.actor.user_id,
            updated_by=self.actor.user_id,
            created_at=self.now,
            updated_at=self.now,
        )
        self.batch.write(record)
        record.field_revs = dict.fromkeys(fields, record.revision)
        if attributed:
            record.field_hlcs = dict.fromkeys(fields, self.m.hlc)
            record.field_by = dict.fromkeys(fields, self.actor.user_id)
        return record

    def conflict(
        self,
        record: Record,
        field: str,
        *,
        reason: str,
        policy: str,
        server: ConflictSide,
        client: Any,
        status: str = "open",
        winner: str = "server",
    ) -> str:
        """Keep the losing side of a concurrent change as a conflict record, synced like any other.
        `client` is this mutation's value; its author and stamp are this mutation's."""
        m = self.m
        cid = conflict_id(self.client_id or self.actor.user_id, m.seq, field)
        fields = {
            "record_id": record.id,
            "record_collection": record.collection,
            "field": field,
            "policy": policy,
            "reason": reason,
            "base_rev": m.base_rev,
            "server_value": server.value,
            "server_by": server.by,
            "server_hlc": server.hlc,
            "client_value": client,
            "client_by": self.actor.user_id,
            "client_hlc": m.hlc,
            "client_id": self.client_id,
            "seq": m.seq,
            "status": status,
            "winner": winner,
            "at": self.now,
        }
        self.new_record("conflicts", cid, record.warehouse_id, fields, attributed=False)
        return cid


def server_side(record: Record, name: str) -> ConflictSide:
    """The stored value of a field and who last wrote it, as one side of a conflict."""
    return ConflictSide(
        value=record.fields.get(name),
        by=record.field_by.get(name, record.updated_by),
        hlc=record.field_hlcs.get(name, ""),
    )


# -------------------------------------------------------------------------------------- generic


def checked_fields(spec: CollectionSpec, fields: dict[str, Any]) -> dict[str, Any]:
    """Each field known, settable by a phone, of the right shape, its free text normalised."""
    checked: dict[str, Any] = {}
    for name, value in fields.items():
        field = field_spec(spec, name)
        if field.policy == "system":
            raise Rejection("read_only_field", f"{name} is set by the server")
        validate(name, field, value)
        checked[name] = normalise_field(field, value)
    return checked


async def domain_fields(
    ctx: OpContext, collection: str, warehouse_id: str, existing: Record | None, fields: dict[str, Any]
) -> dict[str, Any]:
    """The rules a collection's fields obey beyond their shape, for a create (existing None) or a
    patch: answers against the inspection's template version, co-inspectors who may sign."""
    if collection == "shifts":
        return await shift_fields(ctx, warehouse_id, existing, fields)
    if collection == "handovers":
        return handover_fields(fields)
    if collection != "inspections":
        return fields
    template_id = (existing.fields if existing else fields).get("template_id")
    template = await ctx.batch.template(str(template_id or ""))
    fields = check_answers_fields(template, fields)
    listed = fields.get("co_inspectors")
    if listed:
        inspector = existing.fields.get("inspector_id") if existing else ctx.actor.user_id
        members = await ctx.batch.members(warehouse_id)
        for user_id in listed:
            member = members.get(user_id)
            if user_id == inspector:
                raise Rejection("invalid_value", "co_inspectors: the inspector is not their own co-inspector")
            if member is None:
                raise Rejection(
                    "invalid_value", f"co_inspectors: {user_id} is not an officer assigned to this warehouse"
                )
            if member.role != "officer" and not template.supervisor_co_inspectors:
                raise Rejection(
                    "invalid_value",
                    f"co_inspectors: {user_id} is a {member.role}; this checklist is signed by officers",
                )
    return fields


def _merge_patch(
    ctx: OpContext,
    spec: CollectionSpec,
    existing: Record,
    patch: dict[str, Any],
    *,
    system: dict[str, Any] | None = None,
    derive: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Applied:
    """Merge a checked patch field by field; `system` carries server-set fields of a domain action,
    `derive` computes more of them from the fields as merged (a handover's seal findings)."""
    m, actor = ctx.m, ctx.actor
    merges: dict[str, tuple[FieldMerge, Any]] = {}
    for name, value in patch.items():
        field = field_spec(spec, name)
        if field.policy == "immutable":
            if value != existing.fields.get(name):
                raise Rejection("immutable_field", f"{name} cannot change after creation")
            continue
        if field.policy == "append":
            value = stamp_entries(value, actor, ctx.now)
        merged = merge_field(
            field,
            current=existing.fields.get(name),
            current_hlc=existing.field_hlcs.get(name, ""),
            incoming=value,
            hlc=m.hlc,
            concurrent=changed_since(existing, name, m.base_rev, ctx.client_id),
        )
        merges[name] = (merged, value)
    changed = {n: fm.value for n, (fm, _) in merges.items() if fm.changed}
    changed.update(system or {})
    if derive is not None:
        derived = derive({**existing.fields, **changed})
        changed.update({n: v for n, v in derived.items() if existing.fields.get(n) != v})
    record = existing
    if changed:
        record = ctx.stamp(existing, changed)
        for name in changed:
            if name in merges and is_union_merge(spec, name, *merges[name]):
                # A union the phone has not seen yet: stamp it as the server's, so the
                # phone's next offline edit of this field merges again instead of replacing.
                record.field_hlcs[name] = ctx.clock.now()
    conflicts = []
    for name, (fm, incoming) in merges.items():
        if fm.conflict is None:
            continue
        conflicts.append(
            ctx.conflict(
                record,
                name,
                reason="concurrent_edit",
                policy=field_spec(spec, name).policy,
                server=server_side(existing, name),
                client=incoming,
                status=fm.conflict,
                winner="client" if fm.server_lost else "server",
            )
        )
    return Applied(record=record, conflicts=conflicts)


async def checked_patch(ctx: OpContext, existing: Record, fields: dict[str, Any]) -> dict[str, Any]:
    """A patch's fields checked like any edit: shape, normalisation, the collection's rules."""
    spec = COLLECTIONS[existing.collection]
    checked = checked_fields(spec, fields)
    return await domain_fields(ctx, spec.name, existing.warehouse_id, existing, checked)


def _system_change(ctx: OpContext, existing: Record, system: dict[str, Any]) -> Applied:
    return Applied(record=ctx.stamp(existing, system))


def _new_in_scope(ctx: OpContext, existing: Record | None) -> str:
    m = ctx.m
    if m.warehouse_id is None:
        raise Rejection("warehouse_required", "a new record needs warehouse_id")
    if m.warehouse_id not in ctx.actor.warehouses:
        raise Rejection("out_of_scope", "this warehouse is not assigned to you")
    if existing is not None:
        raise Rejection("already_exists", f"{m.collection} {m.id} already exists")
    return m.warehouse_id


async def create(ctx: OpContext, existing: Record | None) -> Applied:
    m, actor = ctx.m, ctx.actor
    spec = COLLECTIONS[m.collection]
    warehouse_id = _new_in_scope(ctx, existing)
    if spec.name == "stock_levels":
        if not actor.is_supervisor:
            raise Rejection("forbidden", "only a supervisor or admin sets up stock levels")
        if m.id != stock_level_id(warehouse_id, str(m.fields.get("item_type", ""))):
            raise Rejection("invalid_value", "a stock level id is sl.<warehouse>.<item_type>")
    if spec.name == "shifts":
        check_shift_create(ctx, warehouse_id)
    fields = await domain_fields(ctx, spec.name, warehouse_id, None, checked_fields(spec, m.fields))
    for name, value in list(fields.items()):
        field = field_spec(spec, name)
        if field.policy == "counter":
            fields[name] = merge_field(
                field, current=0, current_hlc="", incoming=value, hlc=m.hlc, concurrent=False
            ).value
        elif field.policy == "append":
            fields[name] = stamp_entries(value, actor, ctx.now)
    missing = [n for n in REQUIRED[spec.name] if n not in fields]
    if missing:
        raise Rejection("required_missing", f"required: {', '.join(missing)}")
    fields.update(created_system_fields(spec.name, actor))
    if spec.name == "stock_counts":
        # What the count is compared with is the server's stock level at the time of the count,
        # never a number the phone sends.
        level = ctx.batch.records.get(stock_level_id(warehouse_id, str(fields["item_type"])))
        expected = level.fields.get("expected") if level is not None else None
        fields["expected"] = expected if isinstance(expected, int) else None
    return Applied(record=ctx.new_record(m.collection, m.id, warehouse_id, fields))


def count_reads(
    m: Mutation, known: Record | None, origin: Mutation | None, template: Template | None
) -> Iterable[str]:
    """A stock count's expected quantity is read from the warehouse's stock level."""
    item_type = m.fields.get("item_type")
    return (
        [stock_level_id(m.warehouse_id, item_type)] if m.warehouse_id and isinstance(item_type, str) else ()
    )


async def refuse_create(ctx: OpContext, existing: Record | None) -> Applied:
    _new_in_scope(ctx, existing)
    raise Rejection("not_allowed", f"{ctx.m.collection} records are made by the server")


async def patch(ctx: OpContext, existing: Record | None) -> Applied:
    assert existing is not None
    check_patch_allowed(ctx.actor, existing, ctx.m.fields)
    fields = await checked_patch(ctx, existing, ctx.m.fields)
    return _merge_patch(ctx, COLLECTIONS[existing.collection], existing, fields)


async def delete(ctx: OpContext, existing: Record | None) -> Applied:
    assert existing is not None
    m = ctx.m
    if existing.deleted:
        return Applied(record=existing)
    check_delete_allowed(ctx.actor, existing)
    if existing.collection == "shifts":
        check_shift_delete(existing, ctx.now)
    only_fields(m, {"reason"})
    if any(changed_since(existing, name, m.base_rev, ctx.client_id) for name in existing.field_revs):
        # The record changed since the deleting phone saw it: deleting now would silently
        # throw that change away, so keep the record and ask a supervisor.
        cid = ctx.conflict(
            existing,
            "_deleted",
            reason="delete_after_edit",
            policy="flag",
            server=ConflictSide(value=False, by=existing.updated_by, hlc=""),
            client=True,
        )
        return Applied(record=existing, conflicts=[cid])
    record = ctx.stamp(existing, {}, deleted=True)
    record.field_hlcs["_deleted"] = m.hlc
    return Applied(record=record)


async def refuse_delete(ctx: OpContext, existing: Record | None) -> Applied:
    assert existing is not None
    raise Rejection("not_allowed", f"{existing.collection} records are never deleted")


async def edit_after_delete(ctx: OpContext, existing: Record) -> Applied:
    """An edit of a record someone deleted meanwhile: kept, checked like any edit, as a conflict
    for a supervisor to decide (keeping the record applies it)."""
    edit: Any = ctx.m.op
    if ctx.m.op in ("patch", "submit"):  # the operations whose fields a kept record takes
        if ctx.m.op == "patch":
            check_patch_allowed(ctx.actor, existing, ctx.m.fields)
        edit = await checked_patch(ctx, existing, ctx.m.fields) or ctx.m.op
    elif ctx.m.fields:
        edit = dict(ctx.m.fields)
    cid = ctx.conflict(
        existing,
        "_deleted",
        reason="edit_after_delete",
        policy="flag",
        server=ConflictSide(value=True, by=existing.updated_by, hlc=existing.field_hlcs.get("_deleted", "")),
        client=edit,
    )
    return Applied(record=existing, conflicts=[cid])


# ---------------------------------------------------------------------------------- inspections


async def submit_inspection(ctx: OpContext, existing: Record | None) -> Applied:
    assert existing is not None
    status = existing.fields.get("status", "draft")
    if status == "reviewed":
        raise Rejection("inspection_locked", "this inspection has been reviewed and is locked")
    if status == "submitted":
        return Applied(record=existing)  # a co-inspector submitted first
    template = await ctx.batch.template(str(existing.fields.get("template_id", "")))
    fields = await checked_patch(ctx, existing, ctx.m.fields)
    answers = {**existing.fields, **fields}
    findings = check_answers(template, answers, ctx.batch.records, existing.warehouse_id)
    system = {
        "status": "submitted",
        "submitted_at": ctx.now,
        "submitted_by": ctx.actor.user_id,
        "findings": findings,
    }
    # The berita acara number, given once: a resubmission after "perlu perbaikan" keeps it.
    taken: tuple[int, int] | None = None
    if not existing.fields.get("report_number"):
        year = local_year(ctx.now, ctx.batch.utc_offset_hours)
        code, n = await ctx.batch.next_report_number(existing.warehouse_id, year)
        system["report_number"] = report_number(code, year, n)
        taken = (year, n)
    applied = _merge_patch(ctx, COLLECTIONS["inspections"], existing, fields, system=system)
    if taken is not None:
        ctx.batch.use_report_number(existing.warehouse_id, *taken)
    if applied.record is not None:
        seals = {
            item.code: applied.record.fields.get(answer_field(item))
            for item in template.items()
            if item.kind == "seal"
        }
        record_seals(ctx, applied.record, {code: n for code, n in seals.items() if isinstance(n, str) and n})
    return applied


def submit_reads(
    m: Mutation, known: Record | None, origin: Mutation | None, template: Template | None
) -> Iterable[str]:
    """A submit compares counts with the warehouse's expected stock."""
    home = known.warehouse_id if known else origin.warehouse_id if origin else None
    if not home or template is None:
        return ()
    return [stock_level_id(home, i.stock_item) for i in template.items() if i.stock_item] + [
        seal_register_id(home)
    ]


async def review_inspection(ctx: OpContext, existing: Record | None) -> Applied:
    assert existing is not None
    if existing.fields.get("status") == "reviewed":
        raise Rejection("inspection_locked", "this inspection has been reviewed and is locked")
    return _system_change(ctx, existing, review_transition(ctx.actor, ctx.m, existing, ctx.now))


async def confirm_inspection(ctx: OpContext, existing: Record | None) -> Applied:
    """A co-inspector confirms, from their own account and device, that they took part: only then
    are they a signatory of the berita acara."""
    assert existing is not None
    actor = ctx.actor
    only_fields(ctx.m, set())
    if existing.fields.get("status") == "reviewed":
        raise Rejection("inspection_locked", "this inspection has been reviewed and is locked")
    if actor.user_id not in (existing.fields.get("co_inspectors") or []):
        raise Rejection("forbidden", "only an officer listed as co-inspector confirms taking part")
    confirmations = dict(existing.fields.get("confirmations") or {})
    if actor.user_id in confirmations:
        return Applied(record=existing)  # confirmed already, from another device of theirs
    confirmations[actor.user_id] = {"at": ctx.now, "agency": actor.agency, "client_id": ctx.client_id}
    return _system_change(ctx, existing, {"confirmations": confirmations})


# ------------------------------------------------------------------------------------ incidents


async def incident_action(ctx: OpContext, existing: Record | None) -> Applied:
    assert existing is not None
    system = incident_transition(ctx.actor, ctx.m, existing, ctx.now)
    if system is None:
        return Applied(record=existing)  # already there: two officers acknowledged
    return _system_change(ctx, existing, system)


# ------------------------------------------------------------------------------------ conflicts


async def resolve_conflict(ctx: OpContext, conflict: Record | None) -> Applied:
    assert conflict is not None
    actor, m = ctx.actor, ctx.m
    if not actor.is_supervisor:
        raise Rejection("forbidden", "only a supervisor resolves conflicts")
    only_fields(m, {"value"})
    if "value" not in m.fields:
        raise Rejection("value_required", "say which value to keep")
    if conflict.fields.get("status") == "resolved":
        raise Rejection("already_resolved", "another supervisor has already decided this conflict")
    target = ctx.batch.records.get(str(conflict.fields.get("record_id")))
    if target is None:
        raise Rejection("not_found", "the record of this conflict no longer exists")
    if target.collection == "handovers" and m.fields.get("value") != target.fields.get(
        str(conflict.fields.get("field"))
    ):
        check_handover_editable(target)  # a confirmed handover keeps what its commanders confirmed
    conflicts: list[str] = []
    name = str(conflict.fields.get("field"))
    value = m.fields["value"]
    if name == "_deleted":
        if not isinstance(value, bool):
            raise Rejection("invalid_value", "value: true deletes the record, false keeps it")
        client_fields = conflict.fields.get("client_value")
        kept: dict[str, Any] = {}
        if not value and target.deleted and isinstance(client_fields, dict):
            # Keeping a record whose edit arrived after its deletion: the edit takes effect too,
            # merged by each field's policy so appended notes and added photos keep the others.
            kept = kept_edit(target, conflict, client_fields, ctx.now)
        restored = ctx.stamp(target, kept, deleted=value)
        # The kept edit's fields carry this decision's revision; their stamps stay the edit's own.
        restored.field_hlcs = dict(target.field_hlcs)
        restored.field_by = dict(target.field_by)
        restored.field_revs = dict(target.field_revs)
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
            conflicts.append(
                ctx.conflict(
                    target,
                    name,
                    reason="resolution_overrode",
                    policy="flag",
                    server=server_side(target, name),
                    client=value,
                    winner="client",
                )
            )
        ctx.stamp(target, {name: value})
    decided = msgspec.structs.replace(
        conflict,
        fields={
            **conflict.fields,
            "status": "resolved",
            "resolution": value,
            "resolved_by": actor.user_id,
            "resolved_at": ctx.now,
        },
        updated_by=actor.user_id,
        updated_at=ctx.now,
    )
    ctx.batch.write(decided)
    return Applied(record=decided, conflicts=conflicts)


def resolve_reads(
    m: Mutation, known: Record | None, origin: Mutation | None, template: Template | None
) -> Iterable[str]:
    """A conflict decision changes the record it is about."""
    return [str(known.fields["record_id"])] if known is not None else ()


def kept_edit(target: Record, conflict: Record, edit: dict[str, Any], now: str) -> dict[str, Any]:
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
        try:
            validate(name, field, value)
        except Rejection:
            continue  # an edit kept before edits after a delete were checked: not applied
        value = normalise_field(field, value)
        current = target.fields.get(name)
        if field.policy == "append":
            value = stamp_entries(value, author, now)
        if field.policy in ("append", "union"):
            value = merge_field(
                field, current=current, current_hlc="", incoming=value, hlc="", concurrent=True
            ).value
        kept[name] = value
    return kept


# ---------------------------------------------------------------------------------- guard post


def check_shift_create(ctx: OpContext, warehouse_id: str) -> None:
    """Supervisors plan shifts, each at the id its warehouse, day and period derive."""
    if not ctx.actor.is_supervisor:
        raise Rejection("forbidden", "only a supervisor plans shifts")
    if len(warehouse_id) > MAX_WAREHOUSE_ID:
        raise Rejection(
            "invalid_value", f"a roster needs a warehouse id of at most {MAX_WAREHOUSE_ID} characters"
        )
    day, period = str(ctx.m.fields.get("date", "")), str(ctx.m.fields.get("period", ""))
    if ctx.m.id != shift_id(warehouse_id, day, period):
        raise Rejection("invalid_value", "a shift id is sh.<warehouse>.<yyyy-mm-dd>.<period>")
    if canonical_day(day) is None:  # "20261207" would be a second shift of the same day
        raise Rejection("invalid_value", "date: expected yyyy-mm-dd, a day that exists")


async def shift_fields(
    ctx: OpContext, warehouse_id: str, existing: Record | None, fields: dict[str, Any]
) -> dict[str, Any]:
    """Planned people are officers assigned to the warehouse, each under their own agency; the
    commander is one of them; the times make a shift."""
    merged = {**(existing.fields if existing else {}), **fields}
    if existing is not None and set(fields) & {"starts_at", "ends_at", "personnel", "commander"}:
        end = parse_instant(existing.fields.get("ends_at"))
        now = parse_instant(ctx.now)
        if end is not None and now is not None and now > end:
            raise Rejection("shift_ended", "this shift has ended: its plan is on the record")
    if "starts_at" in fields or "ends_at" in fields:
        check_shift_times(merged.get("starts_at"), merged.get("ends_at"))
    if "personnel" in fields:
        fields["personnel"] = check_personnel(fields["personnel"])
        members = await ctx.batch.members(warehouse_id)
        for agency, people in fields["personnel"].items():
            for person in people:
                member = members.get(person)
                if member is None or member.role != "officer":
                    raise Rejection(
                        "invalid_value", f"personnel: {person} is not an officer assigned to this warehouse"
                    )
                if member.agency != agency:
                    raise Rejection(
                        "invalid_value", f"personnel: {person} is of {member.agency}, not {agency}"
                    )
    commander = merged.get("commander")
    planned = planned_people({"personnel": fields.get("personnel", merged.get("personnel"))})
    if ("commander" in fields or "personnel" in fields) and commander and commander not in planned:
        raise Rejection("invalid_value", "commander: the commander is one of the shift's planned personnel")
    return fields


def _hlc_moment(ctx: OpContext) -> datetime:
    return datetime.fromtimestamp(parse_hlc(ctx.m.hlc)[0] / 1000, UTC)


async def _guard(ctx: OpContext, shift: Record) -> tuple[datetime, datetime]:
    """The acting officer is assigned to the shift's warehouse; the shift's times."""
    member = (await ctx.batch.members(shift.warehouse_id)).get(ctx.actor.user_id)
    if ctx.actor.role != "officer" or member is None:
        raise Rejection("forbidden", "only officers assigned to this warehouse check in and out")
    return check_shift_times(shift.fields.get("starts_at"), shift.fields.get("ends_at"))


async def check_in(ctx: OpContext, shift: Record | None) -> Applied:
    """An officer arrives, from their own phone. One check-in per person: the earliest stands,
    whichever of their phones reaches the server first; one far outside the shift is flagged."""
    assert shift is not None
    only_fields(ctx.m, {"photos"})
    start, end = await _guard(ctx, shift)
    photos = ctx.m.fields.get("photos", [])
    validate("photos", COLLECTIONS["incidents"].fields["photos"], photos)
    at = _hlc_moment(ctx)
    attendance = dict(shift.fields.get("attendance") or {})
    user_id = ctx.actor.user_id
    entry = attendance.get(user_id)
    if entry is not None and entry["at"] <= roster_instant(at):
        return Applied(record=shift)  # checked in already, from this phone or another of theirs
    attendance[user_id] = {
        **(entry or {}),
        "at": roster_instant(at),
        "agency": ctx.actor.agency,
        "client_id": ctx.client_id,
        "received_at": ctx.now,
        "flag": check_in_flag(at, start, end),
        "planned": user_id in planned_people(shift.fields),
        "photos": sorted(set(photos) | set((entry or {}).get("photos", []))),
    }
    return _system_change(ctx, shift, {"attendance": attendance})


async def check_out(ctx: OpContext, shift: Record | None) -> Applied:
    """An officer leaves; the earliest check-out of their phones stands."""
    assert shift is not None
    only_fields(ctx.m, set())
    await _guard(ctx, shift)
    at = roster_instant(_hlc_moment(ctx))
    attendance = dict(shift.fields.get("attendance") or {})
    entry = attendance.get(ctx.actor.user_id)
    if entry is None:
        raise Rejection("not_checked_in", "check in before checking out")
    if at < entry["at"]:
        raise Rejection("invalid_transition", "a check-out cannot be before the check-in")
    if entry.get("out_at") and entry["out_at"] <= at:
        return Applied(record=shift)
    attendance[ctx.actor.user_id] = {**entry, "out_at": at, "out_client_id": ctx.client_id}
    return _system_change(ctx, shift, {"attendance": attendance})


async def copy_week(ctx: OpContext, existing: Record | None) -> Applied:
    """A supervisor plans a week as the copy of another: every shift of `from`'s week, seven days
    (or a multiple) later, with the same hours and people (those still assigned). A shift already
    planned is left as it is, so copying twice, or by two supervisors, plans each shift once."""
    m = ctx.m
    if m.warehouse_id is None or m.warehouse_id not in ctx.actor.warehouses:
        raise Rejection("out_of_scope", "this warehouse is not assigned to you")
    if not ctx.actor.is_supervisor:
        raise Rejection("forbidden", "only a supervisor plans shifts")
    only_fields(m, {"from"})
    target, source = parse_week_id(m.id), _monday(m.fields.get("from"))
    if target is None or target[0] != m.warehouse_id or source is None:
        raise Rejection("invalid_value", "copy_week names wk.<warehouse>.<monday> and from: <monday>")
    shift_by = target[1] - source
    if shift_by.days % 7 or not shift_by.days:
        raise Rejection("invalid_value", "from: the monday of another week")
    members = await ctx.batch.members(m.warehouse_id)
    for old_id in week_shift_ids(m.warehouse_id, source):
        old = ctx.batch.records.get(old_id)
        if old is None or old.deleted:
            continue
        day = date.fromisoformat(str(old.fields["date"])) + shift_by
        new_id = shift_id(m.warehouse_id, day, str(old.fields["period"]))
        current = ctx.batch.records.get(new_id)
        if current is not None and not current.deleted:
            continue
        personnel = {
            agency: [p for p in people if p in members and members[p].agency == agency]
            for agency, people in (old.fields.get("personnel") or {}).items()
        }
        fields: dict[str, Any] = {
            "date": day.isoformat(),
            "period": old.fields["period"],
            "starts_at": _later(old.fields["starts_at"], shift_by),
            "ends_at": _later(old.fields["ends_at"], shift_by),
            "personnel": {a: p for a, p in personnel.items() if p},
            "attendance": {},
            "planned_by": ctx.actor.user_id,
        }
        commander = old.fields.get("commander")
        if commander and commander in planned_people(fields):
            fields["commander"] = commander
        if current is not None:
            ctx.stamp(current, fields, deleted=False)
        else:
            ctx.new_record("shifts", new_id, m.warehouse_id, fields)
    return Applied(record=None, warehouse_id=m.warehouse_id)


def copy_week_reads(
    m: Mutation, known: Record | None, origin: Mutation | None, template: Template | None
) -> Iterable[str]:
    """A week's copy reads the shifts of both weeks."""
    target, source = parse_week_id(m.id), _monday(m.fields.get("from"))
    if target is None or source is None:
        return ()
    return week_shift_ids(target[0], source) + week_shift_ids(*target)


def _monday(value: Any) -> date | None:
    day = canonical_day(str(value))
    return day if day is not None and day.weekday() == 0 else None


def _later(value: Any, delta: timedelta) -> str:
    moment = parse_instant(value)
    return roster_instant(moment + delta) if moment else str(value)


def check_shift_delete(record: Record, now: str) -> None:
    start, moment = parse_instant(record.fields.get("starts_at")), parse_instant(now)
    if record.fields.get("attendance") or (start and moment and moment >= start):
        raise Rejection("shift_started", "a shift that has started or has check-ins stays on the record")


# ----------------------------------------------------------------------------------- handovers

SEAL_CODE = re.compile(r"^[a-z0-9_]{1,48}$")
"""A seal of a handover is named like the checklist item of that seal (`s.nomor_segel_pintu`)."""
HANDOVER_CONTENT = ("keys", "incidents", "notes")
"""A handover's fields that commanders confirm (with every seal number `s.<code>`)."""


def _content(record: Record) -> list[str]:
    return [n for n in record.fields if n in HANDOVER_CONTENT or n.startswith("s.")]


def handover_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Seal numbers normalised like an inspection's; seals named like template items."""
    checked = dict(fields)
    for name, value in fields.items():
        if name.startswith("s."):
            code = name[2:]
            if not SEAL_CODE.match(code):
                raise Rejection("unknown_field", f"{name}: a seal is named by its checklist item code")

            def bad(why: str, name: str = name) -> Rejection:
                return Rejection("invalid_value", f"{name}: {why}")

            checked[name] = check_seal(value, bad)
    return checked


def check_handover_editable(record: Record) -> None:
    """Nothing the commanders confirmed changes afterwards: not after both (locked), nor after one
    (their confirmation covers what they read)."""
    if record.fields.get("status") == "confirmed":
        raise Rejection("handover_locked", "this handover is confirmed by both commanders and locked")
    if record.fields.get("confirmations"):
        raise Rejection("handover_confirmed", "a commander has confirmed this handover: it no longer changes")


def seal_findings(ctx: OpContext, warehouse_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Seals whose number differs from the last one recorded (by an inspection or the handover
    before), with what each was compared to."""
    register = ctx.batch.records.get(seal_register_id(warehouse_id))
    numbers = (register.fields.get("numbers") or {}) if register is not None else {}
    compared: dict[str, Any] = {}
    findings: list[str] = []
    for name, value in sorted(fields.items()):
        if not name.startswith("s.") or not value:
            continue
        last = numbers.get(name[2:])
        if last is None:
            continue
        compared[name[2:]] = last
        if last.get("number") != value:
            findings.append(name[2:])
    return {"findings": findings, "compared": compared}


def record_seals(ctx: OpContext, source: Record, seals: dict[str, str]) -> None:
    """Seal numbers just recorded (a submitted inspection, a confirmed handover) become the last
    recorded ones of the warehouse."""
    if not seals:
        return
    register_id = seal_register_id(source.warehouse_id)
    register = ctx.batch.records.get(register_id)
    entries = {
        code: {
            "number": number,
            "collection": source.collection,
            "record_id": source.id,
            "at": ctx.now,
            "by": ctx.actor.user_id,
        }
        for code, number in seals.items()
    }
    if register is None:
        ctx.new_record("seals", register_id, source.warehouse_id, {"numbers": entries}, attributed=False)
    else:
        ctx.stamp(register, {"numbers": {**(register.fields.get("numbers") or {}), **entries}})


def incoming_shift(ctx: OpContext, outgoing: str) -> Record | None:
    """The shift that takes over: the nearest planned one of the next two periods."""
    for candidate in following_shifts(outgoing):
        shift = ctx.batch.records.get(candidate)
        if shift is not None and not shift.deleted:
            return shift
    return None


def _commanders(ctx: OpContext, outgoing: str) -> tuple[str, str]:
    """The commanders of the outgoing and the incoming shift, as planned now."""
    shift, incoming = ctx.batch.records.get(outgoing), incoming_shift(ctx, outgoing)
    return tuple(  # type: ignore[return-value]
        str(s.fields.get("commander") or "") if s is not None and not s.deleted else ""
        for s in (shift, incoming)
    )


async def create_handover(ctx: OpContext, existing: Record | None) -> Applied:
    """The handover at the end of a shift, started by either commander. Its id is derived from
    the outgoing shift, so the other commander starting it offline too writes the same record:
    their fields merge like a patch by each field's policy."""
    m, actor = ctx.m, ctx.actor
    outgoing = m.fields.get("outgoing_shift")
    if existing is not None:
        if existing.warehouse_id not in actor.warehouses:
            raise Rejection("out_of_scope", "this warehouse is not assigned to you")
        check_handover_editable(existing)
        return await _patch_handover(ctx, existing, m.fields)
    warehouse_id = _new_in_scope(ctx, None)
    if not isinstance(outgoing, str) or m.id != handover_id(outgoing):
        raise Rejection("invalid_value", "a handover id is ho.<outgoing shift id without sh.>")
    shift = ctx.batch.records.get(outgoing)
    if shift is None or shift.deleted or shift.warehouse_id != warehouse_id:
        raise Rejection("not_found", f"shift {outgoing} is not planned in this warehouse")
    out_commander, in_commander = _commanders(ctx, outgoing)
    if not in_commander:
        raise Rejection("incoming_shift_unplanned", "the next shift and its commander must be planned first")
    if actor.user_id not in (out_commander, in_commander):
        raise Rejection("forbidden", "a handover is written by the outgoing or the incoming commander")
    spec = COLLECTIONS["handovers"]
    fields = handover_fields(checked_fields(spec, m.fields))
    for name, value in list(fields.items()):
        if field_spec(spec, name).policy == "append":
            fields[name] = stamp_entries(value, actor, ctx.now)
    fields.update(
        status="open",
        incoming_shift=incoming.id if (incoming := incoming_shift(ctx, outgoing)) else "",
        outgoing_commander=out_commander,
        incoming_commander=in_commander,
        confirmations={},
        **seal_findings(ctx, warehouse_id, fields),
    )
    return Applied(record=ctx.new_record("handovers", m.id, warehouse_id, fields))


async def _patch_handover(ctx: OpContext, existing: Record, fields: dict[str, Any]) -> Applied:
    if ctx.actor.user_id not in _commanders(ctx, shift_of_handover(existing.id)):
        raise Rejection("forbidden", "a handover is written by the outgoing or the incoming commander")
    spec = COLLECTIONS["handovers"]
    checked = handover_fields(checked_fields(spec, fields))
    return _merge_patch(
        ctx, spec, existing, checked, derive=lambda merged: seal_findings(ctx, existing.warehouse_id, merged)
    )


async def patch_handover(ctx: OpContext, existing: Record | None) -> Applied:
    assert existing is not None
    check_handover_editable(existing)
    return await _patch_handover(ctx, existing, ctx.m.fields)


def handover_reads(
    m: Mutation, known: Record | None, origin: Mutation | None, template: Template | None
) -> Iterable[str]:
    """A handover reads both shifts (their commanders) and the warehouse's seal register."""
    outgoing = shift_of_handover(m.id)
    home = known.warehouse_id if known else m.warehouse_id
    ids = [outgoing, *following_shifts(outgoing)]
    return [*ids, seal_register_id(home)] if home else ids


async def confirm_handover(ctx: OpContext, existing: Record | None) -> Applied:
    """A commander confirms, from their own account and device, the handover as they read it
    (its state at their base revision). The incoming commander acknowledges every open incident
    handed over. Both confirmations make it count; then it is locked and its seal numbers are the
    warehouse's last recorded ones."""
    assert existing is not None
    m, actor = ctx.m, ctx.actor
    only_fields(m, {"side", "acknowledged"})
    side = m.fields.get("side")
    if side not in ("outgoing", "incoming"):
        raise Rejection("invalid_value", "side: outgoing or incoming")
    confirmations = dict(existing.fields.get("confirmations") or {})
    mine = confirmations.get(side)
    if mine is not None and mine.get("user") == actor.user_id:
        return Applied(record=existing)  # confirmed already, from another device of theirs
    if existing.fields.get("status") == "confirmed":
        raise Rejection("handover_locked", "this handover is confirmed by both commanders and locked")
    out_commander, in_commander = _commanders(ctx, shift_of_handover(existing.id))
    if actor.user_id != (out_commander if side == "outgoing" else in_commander):
        raise Rejection("forbidden", f"only the {side} shift's commander confirms for it")
    other = confirmations.get("incoming" if side == "outgoing" else "outgoing")
    if other is not None and other.get("user") == actor.user_id:
        raise Rejection("four_eyes", "one person cannot confirm both sides of a handover")
    if other is not None and other.get("client_id") == ctx.client_id:
        raise Rejection("four_eyes", "each commander confirms from their own device")
    if any(changed_since(existing, name, m.base_rev, ctx.client_id) for name in _content(existing)):
        raise Rejection(
            "handover_changed", "the handover changed since you read it: read it again, then confirm"
        )
    entry: dict[str, Any] = {
        "user": actor.user_id,
        "agency": actor.agency,
        "at": ctx.now,
        "client_id": ctx.client_id,
    }
    if side == "incoming":
        acknowledged = m.fields.get("acknowledged", [])
        if not isinstance(acknowledged, list) or not all(isinstance(i, str) for i in acknowledged):
            raise Rejection("invalid_value", "acknowledged: the ids of the incidents handed over")
        missing = sorted(set(existing.fields.get("incidents") or []) - set(acknowledged))
        if missing:
            raise Rejection(
                "incidents_unacknowledged",
                f"acknowledge every open incident handed over: {', '.join(missing)}",
            )
        entry["acknowledged"] = sorted(set(acknowledged))
    elif "acknowledged" in m.fields:
        raise Rejection("unknown_field", "the incoming commander acknowledges the incidents")
    confirmations[side] = entry
    system: dict[str, Any] = {"confirmations": confirmations}
    if len(confirmations) == 2:
        system["status"] = "confirmed"
    record = ctx.stamp(existing, system)
    if len(confirmations) == 2:
        record_seals(ctx, record, {n[2:]: v for n, v in record.fields.items() if n.startswith("s.") and v})
    return Applied(record=record)


# ---------------------------------------------------------------------------------------- table


OPERATIONS: dict[tuple[str, str], OpSpec] = {
    ("inspections", "create"): OpSpec(create),
    ("inspections", "patch"): OpSpec(patch),
    ("inspections", "delete"): OpSpec(delete),
    ("inspections", "submit"): OpSpec(submit_inspection, submit_reads),
    ("inspections", "review"): OpSpec(review_inspection),
    ("inspections", "request_changes"): OpSpec(review_inspection),
    ("inspections", "confirm"): OpSpec(confirm_inspection),
    ("incidents", "create"): OpSpec(create),
    ("incidents", "patch"): OpSpec(patch),
    ("incidents", "delete"): OpSpec(delete),
    ("incidents", "acknowledge"): OpSpec(incident_action),
    ("incidents", "resolve"): OpSpec(incident_action),
    ("incidents", "reopen"): OpSpec(incident_action),
    ("stock_counts", "create"): OpSpec(create, count_reads),
    ("stock_counts", "patch"): OpSpec(patch),
    ("stock_counts", "delete"): OpSpec(delete),
    ("stock_levels", "create"): OpSpec(create),
    ("stock_levels", "patch"): OpSpec(patch),
    ("stock_levels", "delete"): OpSpec(refuse_delete),
    ("shifts", "create"): OpSpec(create),
    ("shifts", "patch"): OpSpec(patch),
    ("shifts", "delete"): OpSpec(delete),
    ("shifts", "check_in"): OpSpec(check_in),
    ("shifts", "check_out"): OpSpec(check_out),
    ("shifts", "copy_week"): OpSpec(copy_week, copy_week_reads, names_no_record=True),
    ("handovers", "create"): OpSpec(create_handover, handover_reads),
    ("handovers", "patch"): OpSpec(patch_handover, handover_reads),
    ("handovers", "delete"): OpSpec(refuse_delete),
    ("handovers", "confirm"): OpSpec(confirm_handover, handover_reads),
    ("seals", "create"): OpSpec(refuse_create),
    ("seals", "patch"): OpSpec(patch),
    ("seals", "delete"): OpSpec(refuse_delete),
    ("conflicts", "create"): OpSpec(refuse_create),
    ("conflicts", "patch"): OpSpec(patch),
    ("conflicts", "delete"): OpSpec(refuse_delete),
    ("conflicts", "resolve"): OpSpec(resolve_conflict, resolve_reads),
}
"""Every (collection, op) the server accepts. Anything else is answered `bad_op`."""

EDITS_AFTER_DELETE_APPLY = frozenset({("conflicts", "resolve")})
"""Operations that still apply to a deleted record (everything else becomes edit_after_delete)."""
