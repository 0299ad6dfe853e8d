"""On PostgreSQL a push holds its warehouses' rows for four statements, whatever its size (sync_tx.py
says why): the locks, one read of everything the push needs, one write of everything, the COMMIT. A pull
makes one read besides its changes. Counted with asyncpg's query logger, not timed; the answers and
what the database holds must be the same as before. Skipped unless TIGAPILAR_TEST_POSTGRES_URL is
set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from msgspec.structs import replace as msgspec_replace

from server.storage.postgres import PostgresStorage
from server.storage.postgres.testing import direct_url
from sync import audit, digest
from sync.engine import SyncEngine
from sync.messages import PullRequest
from tests.sync.helpers import PHOTO, WH, Phone, actor, check_mixed_batch, incident, queue_mixed_batch


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The first word of every statement a pooled connection runs from now on."""
    seen: list[str] = []
    acquire = PostgresStorage._acquire

    def log(query: Any) -> None:
        seen.append(query.query.split()[0].rstrip(";"))

    @asynccontextmanager
    async def logged(self: PostgresStorage) -> AsyncIterator[asyncpg.Connection]:
        async with acquire(self) as conn:
            conn.add_query_logger(log)
            try:
                yield conn
            finally:
                conn.remove_query_logger(log)

    monkeypatch.setattr(PostgresStorage, "_acquire", logged)
    return seen


async def test_a_push_is_four_statements_under_its_locks(
    postgres_storage: PostgresStorage, statements: list[str]
) -> None:
    engine = SyncEngine(postgres_storage)
    phone = Phone(engine, actor("slamet"))
    for n in range(3):
        phone.mutate("create", f"inc-{n}", "incidents", incident(n), warehouse_id=WH)
    await phone.sync()

    statements.clear()
    queue_mixed_batch(phone)
    response = await phone.push()
    # BEGIN; the client's row and the warehouse's, locked in one statement; one read; one write; the
    # COMMIT. The refused patch of a record that exists nowhere is audited in the system chain, whose
    # row is locked on its own (INSERT ... ON CONFLICT ... RETURNING), as only such a push does. The
    # alert events the new incidents raise go to the outbox in one more INSERT (issue 20).
    assert statements == ["BEGIN", "WITH", "SELECT", "INSERT", "WITH", "INSERT", "COMMIT"], statements
    check_mixed_batch(response)

    # What the one statement wrote: every record, outcome, audit entry (chained, in order), the
    # client's number, the digest, the photo references and the revision counter.
    conn = await asyncpg.connect(direct_url(postgres_storage.url))
    try:
        records = dict(await conn.fetch("SELECT id, revision FROM records"))
        assert len(records) == 40
        assert [r.revision for r in response.results[:40]] == [records[r.id] for r in response.results[:40]]
        assert await conn.fetchval("SELECT revision FROM warehouse_state WHERE warehouse_id = $1", WH) == max(
            records.values()
        )
        assert (
            await conn.fetchval("SELECT count(*) FROM outcomes WHERE client_id = $1", phone.client_id) == 44
        )
        assert (
            await conn.fetchval("SELECT last_seq FROM client_state WHERE client_id = $1", phone.client_id)
            == 44
        )
        refs = await conn.fetch("SELECT record_id FROM attachment_refs WHERE sha256 = $1 ORDER BY 1", PHOTO)
        assert [r[0] for r in refs] == ["inc-0", "inc-1", "inc-2"]
        stored = await conn.fetchrow("SELECT count, checksum FROM digests WHERE warehouse_id = $1", WH)
        expected = digest.compute(list(records.items()))
        assert (stored[0], stored[1]) == (expected.count, expected.checksum)
        subjects = []
        for name in (WH, ""):  # the warehouse's chain, then the system chain (the refused patch)
            rows = await conn.fetch(
                "SELECT id, content, prev_hash, hash, subject FROM audit_log WHERE chain = $1 ORDER BY id",
                name,
            )
            assert audit.verify([(r[0], bytes(r[1]), r[2], r[3]) for r in rows], name) is None
            subjects += [r[4] for r in rows][-40:] if name else [r[4] for r in rows]
        assert subjects == [f"incidents/{r.id}" for r in response.results]
    finally:
        await conn.close()

    # A retry of the same batch (a lost answer): the locks, the read, the stored outcomes, and the
    # ROLLBACK of a transaction that wrote nothing.
    statements.clear()
    again = await engine.push(phone.actor, phone.request())
    assert statements == ["BEGIN", "WITH", "SELECT", "SELECT", "ROLLBACK"], statements
    assert [r.replayed for r in again.results] == [True] * 41
    assert [r.revision for r in again.results] == [r.revision for r in response.results]


async def test_a_pull_reads_once_besides_its_changes(
    postgres_storage: PostgresStorage, statements: list[str]
) -> None:
    engine = SyncEngine(postgres_storage)
    phone = Phone(engine, actor("slamet"))
    for n in range(12):
        phone.mutate("create", f"inc-{n}", "incidents", incident(n, photos=[PHOTO]), warehouse_id=WH)
    await phone.push()

    statements.clear()
    request = PullRequest(protocol=1, client_id=phone.client_id, cursors={}, limit=5, acked_seq=0)
    first = await engine.pull(phone.actor, request)
    assert statements == ["BEGIN", "SELECT", "SELECT", "COMMIT"], statements
    assert [c.id for c in first.changes] == [f"inc-{n}" for n in range(5)]
    assert first.has_more and first.digests == {} and first.reflected_seq == 5
    assert first.missing_attachments == [PHOTO]

    rest = await engine.pull(
        phone.actor, msgspec_replace(request, cursors=first.cursors, limit=100, acked_seq=5)
    )
    assert [c.id for c in rest.changes] == [f"inc-{n}" for n in range(5, 12)]
    assert not rest.has_more and rest.reflected_seq == 12
    assert rest.digests[WH] == digest.compute([(c.id, c.revision) for c in first.changes + rest.changes])
