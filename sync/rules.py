"""Domain rules of the synced collections, as pure functions the engine calls.

Who may do what, which state transitions exist, what a submit requires and which answers are
findings: everything here decides, nothing here writes. A refusal is a `Rejection`, which the engine
answers as a "rejected" result while the rest of the batch goes on.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sync.clock import parse_hlc
from sync.collections import CollectionSpec, FieldSpec
from sync.domain import Actor, Template, answer_field, is_finding
from sync.errors import Rejection
from sync.merge import FieldMerge
from sync.messages import Mutation
from sync.store import Record

CONFLICT_NAMESPACE = uuid.UUID("6f1d8a56-27c4-4c55-9a43-3f0d3c1f7b21")
PHOTO_FIELDS = ("photos",)


def stock_level_id(warehouse_id: str, item_type: str) -> str:
    """Stock levels have one record per warehouse and item type, so their id is derived."""
    return f"sl.{warehouse_id}.{item_type}"


def conflict_id(client_id: str, seq: int, field: str) -> str:
    return str(uuid.uuid5(CONFLICT_NAMESPACE, f"{client_id}:{seq}:{field}"))


def photo_hashes(fields: dict[str, Any]) -> list[str]:
    """Attachment hashes a set of fields references."""
    found: list[str] = []
    for name, value in fields.items():
        if (name in PHOTO_FIELDS or name.startswith("p.")) and isinstance(value, list):
            found.extend(v for v in value if isinstance(v, str))
    return found


def incident_transition(actor: Actor, m: Mutation, record: Record, now: str) -> dict[str, Any] | None:
    """System fields of an incident action: open → acknowledged → resolved, reopen. None when the
    incident is already where the action leads (two officers acknowledging is not an error)."""
    status = record.fields.get("status", "open")
    assigned = record.fields.get("assigned_agency")
    may_act = actor.is_supervisor or not assigned or assigned == actor.agency
    if m.op in ("acknowledge", "resolve") and actor.user_id == record.fields.get("reported_by"):
        raise Rejection("four_eyes", f"you reported this incident: someone else must {m.op} it")
    if m.op == "acknowledge":
        only_fields(m, set())
        if status == "acknowledged":
            return None
        if status != "open":
            raise Rejection("invalid_transition", f"cannot acknowledge an incident that is {status}")
        if not may_act:
            raise Rejection("forbidden", f"this incident is assigned to {assigned}")
        return {"status": "acknowledged", "acknowledged_at": now, "acknowledged_by": actor.user_id}
    if m.op == "resolve":
        only_fields(m, {"resolution"})
        if status == "resolved":
            return None
        if not may_act:
            raise Rejection("forbidden", f"this incident is assigned to {assigned}")
        if status == "open" and not actor.is_supervisor:
            raise Rejection("invalid_transition", "acknowledge the incident before resolving it")
        system: dict[str, Any] = {"status": "resolved", "resolved_at": now, "resolved_by": actor.user_id}
        if m.fields.get("resolution"):
            system["resolution"] = str(m.fields["resolution"])[:4000]
        if status == "open":
            system.update(acknowledged_at=now, acknowledged_by=actor.user_id)
        return system
    # reopen
    only_fields(m, set())
    if not actor.is_supervisor:
        raise Rejection("forbidden", "only a supervisor reopens an incident")
    if status != "resolved":
        raise Rejection("invalid_transition", f"cannot reopen an incident that is {status}")
    return {"status": "open"}


def review_transition(actor: Actor, m: Mutation, record: Record, now: str) -> dict[str, Any]:
    """System fields of a supervisor's review (locks) or request for changes (back to the officer)."""
    status = record.fields.get("status", "draft")
    if not actor.is_supervisor:
        raise Rejection("forbidden", "only a supervisor reviews inspections")
    if actor.user_id in inspection_authors(record):
        raise Rejection(
            "four_eyes",
            "you created, submitted or co-inspected this inspection: another supervisor reviews it",
        )
    if status != "submitted":
        raise Rejection("invalid_transition", f"cannot {m.op} an inspection that is {status}")
    only_fields(m, {"comment"})
    comment = str(m.fields.get("comment", ""))
    if m.op == "review":
        # The note of this review, empty if none: an earlier "perlu perbaikan" note is not it.
        return {
            "status": "reviewed",
            "reviewed_at": now,
            "reviewed_by": actor.user_id,
            "review_comment": comment,
        }
    if not comment.strip():
        raise Rejection("comment_required", "say what needs fixing")
    return {"status": "needs_fix", "review_comment": comment, "reviewed_by": actor.user_id}


def inspection_authors(record: Record) -> set[str]:
    """Who wrote an inspection: its creator, inspector, submitter and listed co-inspectors."""
    f = record.fields
    authors = {record.created_by, str(f.get("inspector_id") or ""), str(f.get("submitted_by") or "")}
    authors.update(str(u) for u in f.get("co_inspectors") or [])
    return authors - {""}


def field_spec(spec: CollectionSpec, name: str) -> FieldSpec:
    field = spec.field(name)
    if field is None:
        raise Rejection("unknown_field", f"{spec.name} has no field {name}")
    return field


def changed_since(record: Record, name: str, base_rev: int, client_id: str) -> bool:
    """Whether a field changed after the client's base revision by another device.

    The stamp's node is the writing client, so a phone's own earlier edits (made offline, after
    its base) never count as concurrent with its later ones.
    """
    if record.field_revs.get(name, 0) <= base_rev:
        return False
    stamp = record.field_hlcs.get(name, "")
    return not stamp or parse_hlc(stamp)[2] != client_id


def is_union_merge(spec: CollectionSpec, name: str, merged: FieldMerge, incoming: Any) -> bool:
    field = spec.field(name)
    return field is not None and field.policy == "union" and merged.value != incoming


def only_fields(m: Mutation, allowed: set[str]) -> None:
    extra = sorted(set(m.fields) - allowed)
    if extra:
        raise Rejection("unknown_field", f"{m.op} takes no field {', '.join(extra)}")


def check_patch_allowed(actor: Actor, record: Record, fields: dict[str, Any]) -> None:
    status = record.fields.get("status")
    if record.collection == "inspections":
        if status == "reviewed":
            raise Rejection("inspection_locked", "this inspection has been reviewed and is locked")
        if status == "submitted":
            raise Rejection("inspection_submitted", "a submitted inspection can no longer be edited")
    elif record.collection == "incidents":
        if status == "resolved":
            raise Rejection(
                "incident_locked", "this incident is resolved and locked; a supervisor may reopen it"
            )
        if "assigned_agency" in fields and not actor.is_supervisor:
            raise Rejection("forbidden", "only a supervisor changes which agency an incident is assigned to")
    elif record.collection == "stock_levels":
        if not (actor.is_supervisor or actor.agency == "KPU"):
            raise Rejection("forbidden", "stock movements are recorded by KPU staff or a supervisor")
    elif record.collection == "conflicts":
        raise Rejection("not_allowed", "a conflict is decided with the resolve operation")
    elif record.collection == "shifts":
        if not actor.is_supervisor:
            raise Rejection("forbidden", "only a supervisor plans shifts")
    elif record.collection == "seals":
        raise Rejection("not_allowed", "the seal register is kept by the server")


def created_system_fields(collection: str, actor: Actor) -> dict[str, Any]:
    if collection == "inspections":
        return {"status": "draft", "inspector_id": actor.user_id, "inspector_agency": actor.agency}
    if collection == "incidents":
        return {"status": "open", "reported_by": actor.user_id, "reporter_agency": actor.agency}
    if collection == "stock_counts":
        return {"counted_by": actor.user_id, "counter_agency": actor.agency}
    if collection == "shifts":
        return {"attendance": {}, "planned_by": actor.user_id}
    return {}


def stamp_entries(entries: Iterable[dict[str, Any]], actor: Actor, now: str) -> list[dict[str, Any]]:
    """Attribute appended entries (notes, movements) by the server, never by the phone. An id
    sent twice in one mutation is one entry (the first)."""
    unique: dict[str, dict[str, Any]] = {}
    for entry in entries:
        unique.setdefault(entry["id"], entry)
    return [{**entry, "by": actor.user_id, "agency": actor.agency, "at": now} for entry in unique.values()]


def check_delete_allowed(actor: Actor, record: Record) -> None:
    """Who may delete what through sync. A reviewed inspection never (retention is the admin's
    audited purge); a submitted one neither (request changes instead); an incident once another
    person acknowledged it neither (it is on the record: resolve it, saying it was a mistake);
    otherwise its author, or a supervisor."""
    status = record.fields.get("status")
    if record.collection == "inspections":
        if status == "reviewed":
            raise Rejection("inspection_locked", "a reviewed inspection is locked and cannot be deleted")
        if status == "submitted":
            raise Rejection("inspection_submitted", "a submitted inspection cannot be deleted")
    if record.collection == "incidents" and status in ("acknowledged", "resolved"):
        raise Rejection(
            "incident_acknowledged",
            f"an {status} incident cannot be deleted; resolve it with a reason instead",
        )
    if not actor.is_supervisor and record.created_by != actor.user_id:
        raise Rejection("forbidden", "only its author or a supervisor may delete this record")
    if not actor.is_supervisor and record.collection == "inspections" and status not in ("draft", None):
        raise Rejection("inspection_submitted", "a submitted inspection cannot be deleted")


def check_answers(
    template: Template, answers: dict[str, Any], records: dict[str, Record], warehouse_id: str
) -> list[str]:
    """Required answers must be present to submit; returns the item codes that are findings."""
    missing: list[str] = []
    findings: list[str] = []
    for item in template.items():
        answer = answers.get(answer_field(item))
        if item.required and (answer is None or answer == "" or answer == []):
            missing.append(item.code)
            continue
        expected = None
        if item.stock_item:
            level = records.get(stock_level_id(warehouse_id, item.stock_item))
            if level is not None and isinstance(level.fields.get("expected"), int):
                expected = float(level.fields["expected"])
        if is_finding(item, answer, expected):
            findings.append(item.code)
    if missing:
        raise Rejection("required_missing", f"required answers missing: {', '.join(missing)}")
    return findings


REPORT_NUMBER_PREFIX = "BA"
"""Berita acara numbers read `BA/<WAREHOUSE CODE>/<year>/<number>`, e.g. BA/JOHAR-BARU/2026/0042."""


def report_number(warehouse_code: str, year: int, n: int) -> str:
    """The berita acara number `n` of a warehouse in a year: the warehouse's code in capitals
    (unique among warehouses, so two warehouses never print the same number), the year in the
    local time zone, and at least four digits."""
    code = warehouse_code.upper().replace("_", "-")
    return f"{REPORT_NUMBER_PREFIX}/{code}/{year}/{n:04d}"


def local_year(iso_time: str, utc_offset_hours: float) -> int:
    """The year of an ISO time in the local zone (WIB: 31 December 23:30 UTC is already next year)."""
    moment = datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    return (moment + timedelta(hours=utc_offset_hours)).year
