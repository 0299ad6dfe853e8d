"""Live updates for open supervisor pages: `GET /api/live`, server-sent events.

Each event is one record that changed after the client's cursor, with the record's revision as
the SSE id, so `Last-Event-ID` (or `?after=`) is a cursor: after a dropped connection the client
reconnects with the last id it saw and gets every change after it; nothing is lost and nothing is
held in memory per client. The loop takes the hub's wake-up *before* reading (server/events.py),
so a push that commits while the changes are being read wakes it at once.

Auth: a bearer token in the Authorization header. Browsers read the stream with fetch() (an
EventSource cannot send headers, and a token in the URL would end up in logs). The session is
checked again at every heartbeat: a revoked token or a disabled account ends the stream with a
`logout` event; a changed assignment changes the scope.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import Stream

from server.api.supervisor import SUPERVISORS
from server.auth import Session, bearer_token, make_session, token_hash
from server.deps import SessionDep, StorageDep
from server.events import EventHub
from server.models import now_iso
from server.storage import Storage
from sync.store import Record

HEARTBEAT_S = 15
PAGE = 200

SUMMARY_FIELDS: dict[str, tuple[str, ...]] = {
    "inspections": ("status", "inspector_agency", "inspector_id", "submitted_at", "findings", "shift"),
    "incidents": ("status", "severity", "category", "title", "assigned_agency", "reporter_agency"),
    "conflicts": ("status", "field", "record_id", "record_collection", "reason"),
    "stock_counts": ("item_type", "counted", "expected", "inspection_id"),
    "stock_levels": ("item_type", "expected"),
}
"""What an event carries of each record: enough to show a notice; pages re-read what they show."""

_encode = msgspec.json.Encoder().encode


def event(record: Record) -> bytes:
    fields = {k: record.fields[k] for k in SUMMARY_FIELDS.get(record.collection, ()) if k in record.fields}
    data = {
        "id": record.id,
        "collection": record.collection,
        "warehouse_id": record.warehouse_id,
        "revision": record.revision,
        "deleted": record.deleted,
        "created": record.created_at == record.updated_at,
        "updated_by": record.updated_by,
        "updated_at": record.updated_at,
        "fields": fields,
    }
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (record.revision, record.collection.encode(), _encode(data))


def _cursor(request: Request[Any, Any, Any], after: int | None) -> int | None:
    header = request.headers.get("last-event-id", "").strip()
    if header.isdigit() and len(header) <= 15:  # a revision, not a number SQLite cannot hold
        return int(header)
    return after


async def _recheck(storage: Storage, token: str | None) -> Session | None:
    """The session again, or None when the token was revoked or the account disabled."""
    if token is None:
        return None
    found = await storage.device_and_user(token_hash(token))
    if found is None:
        return None
    device, user = found
    if device.revoked or device.expires_at <= now_iso():
        return None
    if user.disabled or user.role not in ("supervisor", "admin"):
        return None
    return await make_session(storage, user, device)


@get("/api/live", guards=[SUPERVISORS], tags=["supervisor"], media_type="text/event-stream")
async def live(
    request: Request[Any, Any, Any],
    session: SessionDep,
    storage: StorageDep,
    state: State,
    after: Annotated[
        int | None, Parameter(ge=0, le=2**53, description="revision to start after (else Last-Event-ID)")
    ] = None,
) -> Stream:
    """Server-sent events: one `inspections` / `incidents` / `conflicts` / `stock_counts` /
    `stock_levels` event per changed record in scope (id = revision), `: ping` comments every 15 s.
    Without a cursor the stream starts at the current revision (a `ready` event says which)."""
    hub: EventHub = state.events
    token = bearer_token(request)
    start = _cursor(request, after)

    async def events() -> AsyncIterator[bytes]:
        current = session
        cursor = start if start is not None else await storage.latest_revision()
        yield b"retry: 2000\nevent: ready\ndata: %s\n\n" % _encode({"revision": cursor})
        while True:
            wake = hub.next()
            changes = await storage.changes_after(sorted(current.actor.warehouses), cursor, PAGE)
            for record in changes:
                cursor = record.revision
                yield event(record)
            if len(changes) == PAGE:
                continue
            if not await hub.wait(wake, HEARTBEAT_S):
                checked = await _recheck(storage, token)
                if checked is None:
                    yield b"event: logout\ndata: {}\n\n"
                    return
                current = checked
                yield b": ping\n\n"

    return Stream(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
