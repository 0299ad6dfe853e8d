"""Alert events: what a push's applied changes tell the people who must act (docs/alerts.md).

`raised(writes, at)` compares each record a batch wrote with the state it had just before that write
and names the events; the engine hands them to the store in the batch's BatchEffects, so the outbox row
and its cause commit or roll back together. A retried push is answered from stored outcomes and
never reaches this function again; an event's key (event, record, revision) is unique as well, so
writing it twice raises it once.

The scheduled events (no inspection within the interval, a device gone quiet) are not caused by a
push: `overdue_event` and `stale_device_event` name them with a key per occurrence, so several
server processes noticing the same occurrence raise it once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from sync.collections import SEVERITIES
from sync.store import AlertEvent, Record

EVENTS: Final = (
    "incident.created",
    "incident.severity_raised",
    "incident.acknowledged",
    "incident.resolved",
    "inspection.findings",
    "inspection.overdue",
    "device.stale",
)
"""Every event a webhook may subscribe to, in the order docs/alerts.md lists them."""

INCIDENT_EVENTS: Final = frozenset(e for e in EVENTS if e.startswith("incident."))

RAISED_SEVERITIES: Final = frozenset({"tinggi", "kritis"})
"""A severity change raises an event only when it rises to one of these."""


def _rank(severity: Any) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def record_view(record: Record) -> dict[str, Any]:
    """The record as the supervisor pages show it (a pull feed Change without merge bookkeeping)."""
    return {
        "id": record.id,
        "collection": record.collection,
        "warehouse_id": record.warehouse_id,
        "revision": record.revision,
        "fields": dict(record.fields),
        "created_by": record.created_by,
        "updated_by": record.updated_by,
        "updated_at": record.updated_at,
    }


def _event(name: str, record: Record, at: str) -> AlertEvent:
    return AlertEvent(
        key=f"{name}:{record.id}:{record.revision}",
        event=name,
        warehouse_id=record.warehouse_id,
        subject=f"{record.collection}/{record.id}",
        record=record_view(record),
        occurred_at=at,
    )


def incident_events(old: Record | None, new: Record) -> list[str]:
    """Events of one incident's change from `old` (None: created by this batch) to `new`."""
    if new.deleted:
        return []
    if old is None or old.deleted:
        return ["incident.created"] if old is None else []
    names: list[str] = []
    severity = new.fields.get("severity")
    if severity in RAISED_SEVERITIES and _rank(severity) > _rank(old.fields.get("severity")):
        names.append("incident.severity_raised")
    status, was = new.fields.get("status", "open"), old.fields.get("status", "open")
    if status != was and status == "acknowledged":
        names.append("incident.acknowledged")
    if status != was and status == "resolved":
        names.append("incident.resolved")
    return names


def inspection_events(old: Record | None, new: Record) -> list[str]:
    """An inspection submitted (now, by this batch) with findings."""
    was = old.fields.get("status") if old is not None else None
    if new.deleted or new.fields.get("status") != "submitted" or was == "submitted":
        return []
    return ["inspection.findings"] if new.fields.get("findings") else []


def raised(writes: Iterable[tuple[Record | None, Record]], at: str) -> list[AlertEvent]:
    """The events of a batch's writes, each (the record before it, None when new; the record written)
    in the order they were made (sync.ops.Batch.writes)."""
    events: list[AlertEvent] = []
    for old, record in writes:
        if record.collection == "incidents":
            names = incident_events(old, record)
        elif record.collection == "inspections":
            names = inspection_events(old, record)
        else:
            continue
        events += [_event(name, record, at) for name in names]
    return events


def overdue_event(
    warehouse_id: str, last_inspection: Mapping[str, Any] | None, interval_hours: float, at: str
) -> AlertEvent:
    """A warehouse has had no inspection within the interval. One occurrence per last inspection:
    the next inspection ends it, and the next lapse is a new one."""
    since = str(last_inspection.get("at", "")) if last_inspection else ""
    return AlertEvent(
        key=f"inspection.overdue:{warehouse_id}:{since or 'never'}",
        event="inspection.overdue",
        warehouse_id=warehouse_id,
        subject=f"warehouses/{warehouse_id}",
        record={
            "warehouse_id": warehouse_id,
            "last_inspection": dict(last_inspection) if last_inspection else None,
            "interval_hours": interval_hours,
        },
        occurred_at=at,
    )


def stale_device_event(
    warehouse_id: str, device: Mapping[str, Any], stale_hours: float, at: str
) -> AlertEvent:
    """A device of the warehouse's people has not been heard from for too long. One occurrence per
    last contact: it ends when the device syncs again."""
    return AlertEvent(
        key=f"device.stale:{warehouse_id}:{device['device_id']}:{device.get('last_contact') or 'never'}",
        event="device.stale",
        warehouse_id=warehouse_id,
        subject=f"devices/{device['device_id']}",
        record={**device, "stale_hours": stale_hours},
        occurred_at=at,
    )
