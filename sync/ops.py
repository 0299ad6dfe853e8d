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

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import msgspec

from sync.answers import check_answers_fields, normalise_field
from sync.clock import HybridClock
from sync.collections import COLLECTIONS, CollectionSpec
from sync.domain import Actor, Member, Template
from sync.errors import Rejection
from sync.merge import FieldMerge, merge_field, validate
from sync.messages import Mutation
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
    only_fields,
    review_transition,
    stamp_entries,
    stock_level_id,
)
from sync.store import Record, WriteTx

REQUIRED: dict[str, tuple[str, ...]] = {
    name: tuple(n for n, f in spec.fields.items() if f.required) for name, spec in COLLECTIONS.items()
}
"""Fields each collection requires on create, in declaration order."""


class Batch:
    """Working state of one push: records as they change, revisions handed out, what was read."""

    def __init__(self, tx: WriteTx, records: dict[str, Record], revision: int) -> None:
        self.tx = tx
        self.records = records
        self.revision = revision
        self.dirty: dict[str, Record] = {}
        self.previous_rev: dict[str, int | None] = {}
        self.templates: dict[str, Template | None] = {}
        self.members_of: dict[str, dict[str, Member]] = {}
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

    async def template_or_none(self, template_id: str) -> Template | None:
        if template_id not in self.templates:
            self.templates[template_id] = await self.tx.template(template_id)
        return self.templates[template_id]

    async def members(self, warehouse_id: str) -> dict[str, Member]:
        if warehouse_id not in self.members_of:
            self.members_of[warehouse_id] = await self.tx.members(warehouse_id)
        return self.members_of[warehouse_id]

    async def template(self, template_id: str) -> Template:
        template = await self.template_or_none(template_id)
        if template is None:
            raise Rejection("unknown_template", f"template {template_id} is not published")
        return template


class Applied(msgspec.Struct, kw_only=True):
    """What an operation did: the record as it now stands, and the conflicts it kept."""

    record: Record | None
    conflicts: list[str] = []


class ConflictSide(msgspec.Struct, kw_only=True, frozen=True):
    """One value of a conflict and who wrote it (with the stamp of that write)."""

    value: Any
    by: str
    hlc: str


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


Operation = Callable[[OpContext, Record | None], Awaitable[Applied]]
"""An operation: the context and the record the mutation names (None when there is none yet)."""

ReadAhead = Callable[[Mutation, Record | None, Mutation | None, Template | None], Iterable[str]]
"""Ids of further records an operation will read, besides its own: given the mutation, the stored
record (if any), the same batch's create of it (if any) and its template (inspections)."""


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
) -> Applied:
    """Merge a checked patch field by field; `system` carries server-set fields of a domain action."""
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
    raise Rejection("not_allowed", "conflict records are made by the server")


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
    return _merge_patch(ctx, COLLECTIONS["inspections"], existing, fields, system=system)


def submit_reads(
    m: Mutation, known: Record | None, origin: Mutation | None, template: Template | None
) -> Iterable[str]:
    """A submit compares counts with the warehouse's expected stock."""
    home = known.warehouse_id if known else origin.warehouse_id if origin else None
    if not home or template is None:
        return ()
    return [stock_level_id(home, i.stock_item) for i in template.items() if i.stock_item]


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


# ---------------------------------------------------------------------------------------- table


class OpSpec(msgspec.Struct, frozen=True):
    """One row of the table: the operation, and what else it reads before the batch applies."""

    apply: Operation
    reads: ReadAhead | None = None


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
    ("conflicts", "create"): OpSpec(refuse_create),
    ("conflicts", "patch"): OpSpec(patch),
    ("conflicts", "delete"): OpSpec(refuse_delete),
    ("conflicts", "resolve"): OpSpec(resolve_conflict, resolve_reads),
}
"""Every (collection, op) the server accepts. Anything else is answered `bad_op`."""

EDITS_AFTER_DELETE_APPLY = frozenset({("conflicts", "resolve")})
"""Operations that still apply to a deleted record (everything else becomes edit_after_delete)."""
