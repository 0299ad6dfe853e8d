"""A push makes two round trips to SQLite's writer thread, whatever its size (sync_tx.py says why):
one that begins the transaction and reads everything the push needs, one that writes it and
commits. A pull of one warehouse makes two on a reader, and one more to hand it back. Counted on
the connections, not timed; the answers must not change."""

from __future__ import annotations

from typing import Any

import aiosqlite
from msgspec.structs import replace as msgspec_replace

from server.storage.sqlite import SqliteStorage
from sync import digest
from sync.engine import SyncEngine
from sync.messages import PullRequest
from tests.sync.helpers import PHOTO, WH, Phone, actor, check_mixed_batch, incident, queue_mixed_batch


def count_round_trips(sqlite_storage: SqliteStorage) -> list[str]:
    """Every call the writer connection runs on its thread from now on (by caller name)."""
    conn = sqlite_storage._w
    calls: list[str] = []
    real = conn._execute

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__qualname__", repr(fn)))
        return await real(fn, *args, **kwargs)

    conn._execute = counted  # type: ignore[method-assign]
    return calls


async def test_a_push_is_two_round_trips_and_its_answers_are_unchanged(sqlite_storage: SqliteStorage) -> None:
    engine = SyncEngine(sqlite_storage)
    phone = Phone(engine, actor("slamet"))
    for n in range(3):
        phone.mutate("create", f"inc-{n}", "incidents", incident(n), warehouse_id=WH)
    await phone.sync()

    calls = count_round_trips(sqlite_storage)
    queue_mixed_batch(phone)
    response = await phone.push()
    assert len(calls) == 2, calls
    check_mixed_batch(response)

    # A retry of the same batch (a lost answer): read ahead, the stored outcomes, and the ROLLBACK
    # that ends a transaction which wrote nothing.
    calls.clear()
    again = await engine.push(phone.actor, phone.request())
    assert len(calls) == 3, calls
    assert [r.replayed for r in again.results] == [True] * 41
    assert [r.revision for r in again.results] == [r.revision for r in response.results]


async def test_what_the_push_read_ahead_is_what_it_writes(sqlite_storage: SqliteStorage) -> None:
    """Digests and records read ahead are the ones the commit builds on: a second phone's pull of
    the warehouse matches what the first phone pushed, and its digest holds."""
    engine = SyncEngine(sqlite_storage)
    one, two = Phone(engine, actor("slamet")), Phone(engine, actor("agus"))
    for n in range(5):
        one.mutate("create", f"inc-{n}", "incidents", incident(n), warehouse_id=WH)
    await one.sync()
    for n in range(5):
        two.mutate("patch", f"inc-{n}", "incidents", {"action_taken": f"agus {n}"}, base_rev=0)
    two.replica = {}
    await two.push()
    await two.pull()
    await one.pull()
    assert {k: v.fields.get("action_taken") for k, v in one.replica.items()} == {
        f"inc-{n}": f"agus {n}" for n in range(5)
    }
    page = await engine.pull(
        one.actor,
        PullRequest(protocol=1, client_id=one.client_id, cursors=one.cursors, limit=10, acked_seq=one.acked),
    )
    expected = digest.compute([(r.id, r.revision) for r in one.replica.values()])
    assert page.digests[WH] == expected


async def test_a_pull_is_two_round_trips_and_one_to_hand_the_reader_back(
    sqlite_storage: SqliteStorage, monkeypatch: Any
) -> None:
    engine = SyncEngine(sqlite_storage)
    phone = Phone(engine, actor("slamet"))
    for n in range(12):
        phone.mutate("create", f"inc-{n}", "incidents", incident(n, photos=[PHOTO]), warehouse_id=WH)
    await phone.push()

    calls: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append("writer" if self is sqlite_storage._w else "reader")
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    request = PullRequest(protocol=1, client_id=phone.client_id, cursors={}, limit=5, acked_seq=0)
    first = await engine.pull(phone.actor, request)
    assert calls == ["reader"] * 3, calls  # BEGIN + all but the changes; the changes; ROLLBACK
    assert [c.id for c in first.changes] == [f"inc-{n}" for n in range(5)]
    assert first.has_more and first.digests == {} and first.reflected_seq == 5
    assert first.missing_attachments == [PHOTO]

    calls.clear()
    cursors = first.cursors
    rest = await engine.pull(phone.actor, msgspec_replace(request, cursors=cursors, limit=100, acked_seq=5))
    assert calls == ["reader"] * 3, calls
    assert [c.id for c in rest.changes] == [f"inc-{n}" for n in range(5, 12)]
    assert not rest.has_more and rest.reflected_seq == 12
    assert rest.digests[WH] == digest.compute([(c.id, c.revision) for c in first.changes + rest.changes])
