"""The sync core's property tests again, on the real SQLite store and its database file.

The same scripts of offline edits, lost responses, duplicated and stale retries run against
server.storage.sqlite; the invariants are checked on what the file holds, read back independently
with the sqlite3 module. A final check walks the audit hash chain the pushes wrote.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.storage.sqlite import SqliteStorage
from sync import audit
from sync.messages import MutationResult
from sync.store import Record
from tests.sync.helpers import TEMPLATE
from tests.sync.test_evidence_properties import run_evidence_script, storage_members
from tests.sync.test_evidence_properties import step as evidence_step
from tests.sync.test_properties import outcomes_with_mutations, run_script, step
from tests.sync.test_roster_properties import run_roster_script
from tests.sync.test_roster_properties import step as roster_step


class _InspectableSqlite(SqliteStorage):
    async def inspect_for_tests(self) -> tuple[dict[str, Any], dict[Any, Any], dict[Any, int]]:
        with sqlite3.connect(self.path) as conn:
            records = {}
            for row in conn.execute(
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
                for cid, seq, m, r in conn.execute("SELECT client_id, seq, mutation, result FROM outcomes")
            ]
            counts: dict[tuple[str, int], int] = {}
            chains: dict[str, list[tuple[int, bytes, str, str]]] = {}
            for name, entry_id, kind, device, content, prev, digest in conn.execute(
                "SELECT chain, id, kind, device, content, prev_hash, hash FROM audit_log ORDER BY chain, id"
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
        return records, outcomes, counts


@asynccontextmanager
async def sqlite_store() -> AsyncIterator[_InspectableSqlite]:
    with tempfile.TemporaryDirectory() as tmp:
        store = _InspectableSqlite(Path(tmp) / "t.db")
        await store.open()
        try:
            await store.put_template(TEMPLATE, published=True)
            yield store
        finally:
            await store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=40, max_size=120))
def test_replicas_converge_exactly_once_and_nothing_is_lost_sqlite(steps: list[tuple[Any, ...]]) -> None:
    asyncio.run(run_script(sqlite_store, steps))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(evidence_step, min_size=30, max_size=100))
def test_evidence_holds_whoever_does_what_sqlite(steps: list[tuple[Any, ...]]) -> None:
    asyncio.run(run_evidence_script(sqlite_store, storage_members, steps))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(roster_step, min_size=20, max_size=80))
def test_offline_check_ins_and_confirmations_converge_never_double_never_unlock_sqlite(
    steps: list[tuple[Any, ...]],
) -> None:
    asyncio.run(run_roster_script(sqlite_store, storage_members, steps))
