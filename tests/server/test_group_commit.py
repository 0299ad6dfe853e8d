"""Group commit on SQLite: pushes from different phones that arrive together share one write
transaction and one COMMIT (SqliteStorage.write(), _PushGroup), each in a savepoint of its own.
Each keeps its exactly-once outcome and its all-or-nothing; one that fails (its checks, a statement,
or the whole transaction) never changes another's answer. A SIGKILL during a group commit is in
tests/server/test_faults.py."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from server.storage.sqlite import SqliteStorage, sync_tx
from server.storage.sqlite import storage as storage_mod
from sync import audit
from sync.engine import SyncEngine
from sync.errors import SequenceGap
from sync.messages import PushResponse
from tests.factories import assert_summaries_are_folds
from tests.sync.helpers import WH, Phone, actor, incident

N = 30


@pytest.fixture(autouse=True)
def unhurried_groups(sqlite_storage: SqliteStorage) -> None:
    """No commit for the group's age (GROUP_MAX_WAIT_MS) on this loaded machine: which pushes share a
    COMMIT then depends only on who is waiting, as these tests count."""
    sqlite_storage.group_wait = 3600.0


def phones(engine: SyncEngine, count: int, n: int = N) -> list[Phone]:
    made = []
    for p in range(count):
        phone = Phone(engine, actor(f"petugas{p}"))
        for i in range(n):
            phone.mutate("create", f"inc-{p}-{i}", "incidents", incident(i), warehouse_id=WH)
        made.append(phone)
    return made


def rows(storage: SqliteStorage, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(storage.path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def stored(storage: SqliteStorage, phone: Phone) -> tuple[int, int, int, int]:
    """Records, outcomes, mutation audit entries and last_seq of one phone, as committed."""
    cid = phone.client_id
    prefix = f"inc-{cid.split('-')[1].removeprefix('petugas')}-%"
    records = rows(storage, "SELECT count(*) FROM records WHERE id LIKE ?", prefix)[0][0]
    outcomes = rows(storage, "SELECT count(*) FROM outcomes WHERE client_id = ?", cid)[0][0]
    audited = rows(storage, "SELECT count(*) FROM audit_log WHERE kind = 'mutation' AND device = ?", cid)[0][
        0
    ]
    last = rows(storage, "SELECT last_seq FROM client_state WHERE client_id = ?", cid)
    return records, outcomes, audited, last[0][0] if last else 0


def assert_applied_once(response: PushResponse, n: int = N, *, replayed: bool = False) -> None:
    assert [r.seq for r in response.results] == list(range(1, n + 1))
    assert {r.status for r in response.results} == {"applied"}
    assert {r.replayed for r in response.results} == {replayed}
    assert response.last_seq == n


def verify_chains(storage: SqliteStorage) -> None:
    chains: dict[str, list[tuple[int, bytes, str, str]]] = {}
    for name, i, c, p, h in rows(
        storage, "SELECT chain, id, content, prev_hash, hash FROM audit_log ORDER BY id"
    ):
        chains.setdefault(name, []).append((i, bytes(c), p, h))
    assert all(audit.verify(entries, name) is None for name, entries in chains.items())


async def test_pushes_arriving_together_share_one_commit_and_each_is_applied_once(
    sqlite_storage: SqliteStorage,
) -> None:
    engine = SyncEngine(sqlite_storage)
    group = phones(engine, 6)
    before = sqlite_storage.group_commits
    answers = await asyncio.gather(*(p.push() for p in group))
    # All six queued for the writer before the first finished: one transaction, one fsync.
    assert sqlite_storage.group_commits - before == 1
    for phone, answer in zip(group, answers, strict=True):
        assert_applied_once(answer)
        assert stored(sqlite_storage, phone) == (N, N, N, N)
    revisions = [
        r[0] for r in rows(sqlite_storage, "SELECT revision FROM records WHERE warehouse_id = ?", WH)
    ]
    assert sorted(revisions) == list(range(1, 6 * N + 1))  # one counter, never handed out twice
    verify_chains(sqlite_storage)
    await assert_summaries_are_folds(sqlite_storage, [WH])


async def test_a_retry_inside_the_same_group_is_answered_from_the_first_push_exactly_once(
    sqlite_storage: SqliteStorage,
) -> None:
    engine = SyncEngine(sqlite_storage)
    a, b = phones(engine, 2)
    # The phone's first push, another phone's, and the same batch again (the first answer was lost)
    # all queue together: the retry reads the group's own, not yet committed, outcomes.
    first, other, again = await asyncio.gather(a.push(), b.push(), a.push())
    assert sqlite_storage.group_commits == 1
    assert_applied_once(first)
    assert_applied_once(other)
    assert_applied_once(again, replayed=True)
    assert [(r.id, r.revision) for r in again.results] == [(r.id, r.revision) for r in first.results]
    assert stored(sqlite_storage, a) == (N, N, N, N)
    # And after the commit, once more.
    assert_applied_once(await a.push(), replayed=True)
    assert stored(sqlite_storage, a) == (N, N, N, N)


def failing_for(client_id: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """execute_and_release / execute_and_commit that, for one client's batch, writes its rows and
    then meets a failing statement (the batch's savepoint must undo the rows it wrote)."""

    def run(db: sqlite3.Connection, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> Any:
        if any(
            sql.lstrip().startswith("INSERT INTO outcomes") and rows[0][0] == client_id
            for sql, rows in statements
        ):
            sync_tx._execute_all(db, statements)
            db.execute("INSERT INTO no_such_table VALUES (1)")
        return original(db, statements)

    return run


async def test_a_failing_batch_in_a_group_leaves_the_others_and_nothing_of_its_own(
    sqlite_storage: SqliteStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = SyncEngine(sqlite_storage)
    good1, broken, gap, good2 = phones(engine, 4)
    bad = broken.client_id
    monkeypatch.setattr(storage_mod, "execute_and_release", failing_for(bad, sync_tx.execute_and_release))
    monkeypatch.setattr(storage_mod, "execute_and_commit", failing_for(bad, sync_tx.execute_and_commit))
    gap.outbox = gap.outbox[1:]  # starts at 2: refused whole by its checks (SequenceGap)
    answers = await asyncio.gather(
        good1.push(), broken.push(), gap.push(), good2.push(), return_exceptions=True
    )
    assert isinstance(answers[1], sqlite3.OperationalError)
    assert isinstance(answers[2], SequenceGap)
    assert_applied_once(answers[0])  # type: ignore[arg-type]
    assert_applied_once(answers[3])  # type: ignore[arg-type]
    assert sqlite_storage.group_commits == 1
    assert stored(sqlite_storage, good1) == (N, N, N, N)
    assert stored(sqlite_storage, good2) == (N, N, N, N)
    assert stored(sqlite_storage, broken) == (0, 0, 0, 0)
    assert stored(sqlite_storage, gap) == (0, 0, 0, 0)
    verify_chains(sqlite_storage)
    await assert_summaries_are_folds(sqlite_storage, [WH])

    # The failed one, retried once the fault is gone, is applied exactly once.
    monkeypatch.undo()
    assert_applied_once(await broken.push())
    assert stored(sqlite_storage, broken) == (N, N, N, N)
    assert_applied_once(await good1.push(), replayed=True)
    verify_chains(sqlite_storage)
    await assert_summaries_are_folds(sqlite_storage, [WH])


async def test_a_batch_that_loses_the_whole_transaction_makes_the_others_run_again(
    sqlite_storage: SqliteStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite rolls the whole transaction back by itself on some errors (SQLITE_FULL, I/O): the
    pushes already applied in it are lost, and run again, each still exactly once."""
    engine = SyncEngine(sqlite_storage)
    first, second, culprit, last = phones(engine, 4)

    def whole_rollback(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(db: sqlite3.Connection, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> Any:
            if any(sql.lstrip().startswith("INSERT INTO outcomes") and r[0][0] == culprit.client_id
                   for sql, r in statements):  # fmt: skip
                db.execute("ROLLBACK")
                raise sqlite3.OperationalError("disk I/O error")
            return original(db, statements)

        return run

    monkeypatch.setattr(storage_mod, "execute_and_release", whole_rollback(sync_tx.execute_and_release))
    monkeypatch.setattr(storage_mod, "execute_and_commit", whole_rollback(sync_tx.execute_and_commit))
    answers = await asyncio.gather(
        first.push(), second.push(), culprit.push(), last.push(), return_exceptions=True
    )
    assert isinstance(answers[2], sqlite3.OperationalError)
    for phone, answer in ((first, answers[0]), (second, answers[1]), (last, answers[3])):
        assert_applied_once(answer)  # type: ignore[arg-type]  (run again: applied, not replayed)
        assert stored(sqlite_storage, phone) == (N, N, N, N)
    assert stored(sqlite_storage, culprit) == (0, 0, 0, 0)
    revisions = sorted(r[0] for r in rows(sqlite_storage, "SELECT revision FROM records"))
    assert revisions == list(range(1, 3 * N + 1))
    verify_chains(sqlite_storage)
    await assert_summaries_are_folds(sqlite_storage, [WH])


async def test_with_group_commit_off_each_push_commits_alone(sqlite_storage: SqliteStorage) -> None:
    """TIGAPILAR_GROUP_COMMIT_MUTATIONS=0 (the benchmarks' before): one COMMIT per push."""
    assert storage_mod.group_limit_from_env({"TIGAPILAR_GROUP_COMMIT_MUTATIONS": "0"}) == 0
    assert storage_mod.group_limit_from_env({}) == storage_mod.GROUP_MAX_MUTATIONS
    sqlite_storage.group_limit = 0
    engine = SyncEngine(sqlite_storage)
    group = phones(engine, 4)
    answers = await asyncio.gather(*(p.push() for p in group))
    assert sqlite_storage.group_commits == 4
    for phone, answer in zip(group, answers, strict=True):
        assert_applied_once(answer)
        assert stored(sqlite_storage, phone) == (N, N, N, N)


async def test_a_group_is_committed_once_its_first_push_has_waited_long_enough(
    sqlite_storage: SqliteStorage,
) -> None:
    """A group's first answer waits at most TIGAPILAR_GROUP_COMMIT_WAIT_MS for its COMMIT: a group
    held open for every waiting push answered the storm's phones in bursts of a hundred, whose pulls
    then queued for the readers (docs/benchmarks.md). At 0 each push that joins a group commits it."""
    assert storage_mod.group_wait_from_env({"TIGAPILAR_GROUP_COMMIT_WAIT_MS": "20"}) == 0.02
    assert storage_mod.group_wait_from_env({}) == storage_mod.GROUP_MAX_WAIT_MS / 1000
    sqlite_storage.group_wait = 0.0
    engine = SyncEngine(sqlite_storage)
    group = phones(engine, 6)
    answers = await asyncio.gather(*(p.push() for p in group))
    assert sqlite_storage.group_commits == 3  # pairs: the first stays open, the second commits both
    for phone, answer in zip(group, answers, strict=True):
        assert_applied_once(answer)
        assert stored(sqlite_storage, phone) == (N, N, N, N)
    verify_chains(sqlite_storage)
