"""Retention: what is kept, and the one way anything is ever removed.

Nothing the phones sync is deleted in normal operation. A delete makes a *tombstone*: the record
keeps every field, is marked deleted and syncs to every phone like any other change, and its whole
history stays in the audit log. Resolved conflicts are records too and are never purged.

The only removal is `tigapilar purge-tombstones --older-than DAYS --yes`, run by an administrator.
Warehouse by warehouse, each in one transaction that holds only that warehouse, it deletes the
tombstones last changed before the cut-off, recomputes the warehouse's digest, raises its tombstone
horizon (a phone whose cursor of it is older is told to `reset` that warehouse and pull it again,
so it cannot keep a record the server has forgotten), and appends an `admin.tombstones_purged`
entry naming every purged id to the warehouse's audit chain; a last entry in the system chain sums
the purge up (every id, every new horizon).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from server.models import iso
from server.storage import Storage, StorageError
from sync.store import AuditEntry


@dataclass(frozen=True)
class PurgeReport:
    purged: list[str]
    """Ids of the purged tombstones."""
    horizons: dict[str, int]
    """The new tombstone horizon of each warehouse purged: its pull cursors below it are reset."""
    cutoff: str
    """Tombstones last changed before this server time were purged."""
    audit_id: int


async def purge_tombstones(
    storage: Storage, *, older_than_days: int, actor_id: str, now: datetime | None = None
) -> PurgeReport:
    if older_than_days < 1:
        raise StorageError("--older-than must be at least 1 day")
    purge = getattr(storage, "purge_tombstones", None)
    if purge is None:
        raise StorageError(f"purging tombstones is not supported by {type(storage).__name__} yet")
    cutoff = iso((now or datetime.now(UTC)) - timedelta(days=older_than_days))

    def entry(warehouse_id: str | None, ids: list[str], horizons: dict[str, int]) -> AuditEntry:
        return AuditEntry(
            at=iso(datetime.now(UTC)),
            kind="admin.tombstones_purged",
            actor_id=actor_id,
            actor_agency="",
            device="",
            warehouse_id=warehouse_id,
            subject="tombstones",
            detail={"older_than_days": older_than_days, "cutoff": cutoff, "horizons": horizons, "ids": ids},
        )

    ids, horizons, audit_id = await purge(cutoff, entry)
    return PurgeReport(purged=ids, horizons=horizons, cutoff=cutoff, audit_id=audit_id)
