"""Live updates for open supervisor pages: `GET /api/live`, server-sent events.

Revisions are counted per warehouse, so the stream's cursor is a map {warehouse: revision}. The
`ready` event gives it as the stream starts (each warehouse's newest revision, or the cursors the
client sent); each event is one record that changed after its warehouse's cursor and carries its
warehouse and revision, so the client keeps the map up to date. After a dropped connection the
client reconnects with `POST /api/live/resume` and the map it holds, and gets every change after it:
nothing is lost and nothing is held in memory per client. The stream subscribes to wake-ups of
its scope only (server/events.py): a commit in a warehouse it cannot see never wakes it, and a
wake-up reads only the warehouses that changed. The wake-up is taken *before* reading, so a push
that commits while the changes are being read wakes it at once.

Auth: a bearer token in the Authorization header. Browsers read the stream with fetch() (an
EventSource cannot send headers, and a token in the URL would end up in logs). The session is
checked again at once when this process revokes a token, disables an account or changes an
assignment (the app's `account_changes` hub), and in any case every `Config.live_session_check_s`
seconds however busy the stream is (a change made by the CLI or by another server process): a
revoked token or a disabled account ends the stream with a `logout` event, a changed scope with a
`scope` event (the page reconnects and is shown what it may see now).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import JSONBody
from litestar.response import Stream

from server.api.supervisor import SUPERVISORS
from server.api.wire import WireBody
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
    return b"event: %s\ndata: %s\n\n" % (record.collection.encode(), _encode(data))


class LiveCursors(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Where a reconnecting live view resumes: the cursor map of its `ready` event, moved on by
    every event it received."""

    cursors: dict[str, Annotated[int, msgspec.Meta(ge=0, le=2**53)]]


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
    request: Request[Any, Any, Any], session: SessionDep, storage: StorageDep, state: State
) -> Stream:
    """Server-sent events: one `inspections` / `incidents` / `conflicts` / `stock_counts` /
    `stock_levels` event per changed record in scope (with its warehouse and revision), `: ping`
    comments every 15 s. Starts at each warehouse's newest revision (the `ready` event gives the
    cursor map; `POST /api/live/resume` resumes from one). Ends with `logout` when the session ends, with
    `scope` when the caller's warehouses change."""
    return _stream(request, session, storage, state, None)


@post(
    "/api/live/resume",
    guards=[SUPERVISORS],
    tags=["supervisor"],
    media_type="text/event-stream",
    status_code=200,
    dto=WireBody[LiveCursors],
    return_dto=None,
)
async def live_resume(
    request: Request[Any, Any, Any],
    session: SessionDep,
    storage: StorageDep,
    state: State,
    data: JSONBody[LiveCursors],
) -> Stream:
    """The same stream, resumed after the cursor map the client holds (warehouses of its scope it
    does not name start at their newest revision; others are ignored)."""
    return _stream(request, session, storage, state, data.cursors)


def _stream(
    request: Request[Any, Any, Any],
    session: Session,
    storage: Storage,
    state: State,
    resume: dict[str, int] | None,
) -> Stream:
    hub: EventHub = state.events
    accounts: EventHub = state.account_changes
    check_s: float = state.config.live_session_check_s
    token = bearer_token(request)

    async def events() -> AsyncIterator[bytes]:
        current = session
        scope = sorted(current.actor.warehouses)
        with hub.subscribe(scope) as subscription:
            cursors = await storage.live_cursors(scope)
            if resume is not None:
                cursors.update((w, r) for w, r in resume.items() if w in cursors)
            yield b"retry: 2000\nevent: ready\ndata: %s\n\n" % _encode({"cursors": cursors})
            checked = quiet_since = time.monotonic()
            pending: set[str] = set(scope) if resume is not None else set()
            while True:
                wake, account_wake = subscription.next(), accounts.next()
                dirty = subscription.take()
                pending.update(scope if dirty is None else dirty)
                changes = (
                    await storage.changes_after({w: cursors[w] for w in sorted(pending)}, PAGE)
                    if pending
                    else []
                )
                for record in changes:
                    cursors[record.warehouse_id] = record.revision
                    yield event(record)
                if len(changes) < PAGE:
                    pending.clear()  # every warehouse read is caught up
                else:
                    last = changes[-1].warehouse_id
                    pending = {w for w in pending if w >= last}
                now = time.monotonic()
                if changes:
                    quiet_since = now
                due = checked + check_s
                if now < due:
                    if len(changes) == PAGE:
                        continue  # more to send, and the session was checked recently
                    await EventHub.wait_any([wake, account_wake], min(due, quiet_since + HEARTBEAT_S) - now)
                    now = time.monotonic()
                if account_wake.is_set() or now >= checked + check_s:
                    checked_session = await _recheck(storage, token)
                    if checked_session is None:
                        yield b"event: logout\ndata: {}\n\n"
                        return
                    if checked_session.actor.warehouses != current.actor.warehouses:
                        yield b"event: scope\ndata: {}\n\n"
                        return
                    current, checked = checked_session, now
                if now - quiet_since >= HEARTBEAT_S:
                    quiet_since = now
                    yield b": ping\n\n"

    return Stream(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
