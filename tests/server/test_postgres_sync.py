"""The sync core's property tests again, on the PostgreSQL store (as test_sync_sqlite.py does on
SQLite): the same scripts of offline edits, lost responses, duplicated and stale retries, with the
invariants checked on what the database holds, read back independently with asyncpg, and the audit
hash chain the pushes wrote. Skipped unless TIGAPILAR_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.storage.postgres import PostgresStorage
from server.storage.postgres.testing import SKIP_REASON, session_databases
from sync import audit
from sync.messages import MutationResult
from sync.store import Record
from tests.sync.helpers import TEMPLATE
from tests.sync.test_evidence_properties import run_evidence_script, storage_members
from tests.sync.test_evidence_properties import step as evidence_step
from tests.sync.test_properties import outcomes_with_mutations, run_script, step
from tests.sync.test_roster_properties import run_roster_script
from tests.sync.test_roster_properties import step as roster_step

pytestmark = pytest.mark.skipif(session_databases() is None, reason=SKIP_REASON)


class _InspectablePostgres(PostgresStorage):
    async def inspect_for_tests(self) -> tuple[dict[str, Any], dict[Any, Any], dict[Any, int]]:
        conn = await asyncpg.connect(self.url)
        try:
            records = {}
            for row in await conn.fetch(
                "SELECT id, collection, warehouse_id, revision, fields, deleted FROM records"
            ):
                records[row[0]] = Record(
                    id=row[0],
                    collection=row[1],
                    warehouse_id=row[2],
                    revision=row[3],
                    fields=msgspec.json.decode(row[4]),
                    field_revs={},
                    field_hlcs={},
                    deleted=bool(row[5]),
                )
            rows = [
                (cid, seq, bytes(m), msgspec.json.decode(r, type=MutationResult))
                for cid, seq, m, r in await conn.fetch(
                    "SELECT client_id, seq, mutation, result FROM outcomes"
                )
            ]
            counts: dict[tuple[str, int], int] = {}
            chains: dict[str, list[tuple[int, bytes, str, str]]] = {}
            for name, entry_id, kind, device, content, prev, digest in await conn.fetch(
                "SELECT chain, id, kind, device, content, prev_hash, hash FROM audit_log"
                ' ORDER BY chain COLLATE "C", id'
            ):
                chains.setdefault(name, []).append((entry_id, bytes(content), prev, digest))
                if kind == "mutation":
                    key = (device, msgspec.json.decode(content)["detail"]["seq"])
                    counts[key] = counts.get(key, 0) + 1
            for name, chain in chains.items():
                assert audit.verify(chain, name) is None, f"the audit chain {name!r} the pushes wrote holds"
            outcomes = outcomes_with_mutations(
                rows, (content for chain in chains.values() for _, content, _, _ in chain)
            )
        finally:
            await conn.close()
        return records, outcomes, counts


@asynccontextmanager
async def postgres_store() -> AsyncIterator[_InspectablePostgres]:
    databases = session_databases()
    assert databases is not None
    url = await databases.create()
    store = _InspectablePostgres(url, max_connections=2)
    try:
        await store.open()
        await store.put_template(TEMPLATE, published=True)
        yield store
    finally:
        await store.close()
        await databases.drop(url)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=40, max_size=120))
def test_replicas_converge_exactly_once_and_nothing_is_lost_postgres(steps: list[tuple[Any, ...]]) -> None:
    asyncio.run(run_script(postgres_store, steps))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(evidence_step, min_size=30, max_size=100))
def test_evidence_holds_whoever_does_what_postgres(steps: list[tuple[Any, ...]]) -> None:
    asyncio.run(run_evidence_script(postgres_store, storage_members, steps))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(roster_step, min_size=20, max_size=80))
def test_offline_check_ins_and_confirmations_converge_never_double_never_unlock_postgres(
    steps: list[tuple[Any, ...]],
) -> None:
    asyncio.run(run_roster_script(postgres_store, storage_members, steps))
