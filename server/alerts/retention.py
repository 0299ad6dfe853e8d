"""How long the outbox keeps what it has finished with (docs/alerts.md, "Retention").

The outbox (`alert_events`) and its deliveries would otherwise grow with every incident forever. An
event is purged with its deliveries once it was raised more than `alert_retention_days` ago and every
delivery of it is finished (delivered, or dead) and was made that long ago too (a replayed dead
letter counts from its replay). Nothing still to be delivered is ever purged: an event not yet
fanned out, or with one pending delivery, stays whatever its age.

What a purge removed is not forgotten: each batch appends an `alert.outbox_purged` entry to the
system's audit chain, in the purge's own transaction, naming every event key and each of its
deliveries (id, channel, target, status, attempts, delivered_at). So "this incident was delivered
to that webhook once, at that time" stays provable from the hash-chained audit log after the rows
are gone, and a delivery id in an earlier `alert.delivery_replayed` entry still resolves.

The newest occurrence of a scheduled event (`inspection.overdue`, `device.stale`) of each warehouse
and subject is kept: its key is what stops the next scan from raising the same occurrence again.

Every alert worker purges at each scan (`alert_scan_interval_s`); two processes purging at once
take different batches or find nothing (each batch is one write transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from server.models import iso
from server.storage import Storage
from sync.store import AuditEntry

BATCH = 1000
"""Events per purge transaction (and per audit entry)."""

SYSTEM_ACTOR = "system:alert-retention"


@dataclass(frozen=True)
class PurgeSummary:
    events: int
    deliveries: int
    cutoff: str


async def purge_finished(
    storage: Storage, *, retention_days: float, now: float, batch: int = BATCH
) -> PurgeSummary:
    """Purge every finished event older than `retention_days` (batch by batch), with its
    deliveries; 0 days keeps everything."""
    before = now - retention_days * 86400.0
    cutoff = iso(datetime.fromtimestamp(before, UTC))
    if retention_days <= 0:
        return PurgeSummary(0, 0, cutoff)

    def entry(purged: list[dict[str, Any]]) -> AuditEntry:
        return AuditEntry(
            at=iso(datetime.now(UTC)),
            kind="alert.outbox_purged",
            actor_id=SYSTEM_ACTOR,
            actor_agency="",
            device="",
            warehouse_id=None,
            subject="alert_events",
            detail={"retention_days": retention_days, "cutoff": cutoff, "events": purged},
        )

    events = deliveries = 0
    while True:
        done, gone = await storage.purge_alerts(before, cutoff, entry, batch)
        events += done
        deliveries += gone
        if done < batch:
            return PurgeSummary(events, deliveries, cutoff)
