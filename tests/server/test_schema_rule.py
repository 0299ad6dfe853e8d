"""The schema rule of issue 18, point 7, asserted on the real schema of each backend: every table is
either a small reference table or distributed by its warehouse (`warehouse_id`; the audit log by
`chain`, its warehouse's id), and a distributed table's primary key and unique indexes lead with
that column (what Citus needs to shard on it). The tables not there yet are named with the reason,
as docs/postgres.md ("Beyond one PostgreSQL server") says, which must name every table."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from server.storage import Storage

REFERENCE = {
    "users", "warehouses", "assignments", "devices", "templates", "stock_item_types", "webhooks",
    "push_subscriptions", "alert_recipients_generation", "login_failures", "audit_roots",
    "database_marks", "schema_version",
}  # fmt: skip
"""Small tables every shard reads (people, places, checklists, configuration)."""

DISTRIBUTION = {"audit_log": "chain"}
"""A distributed table's column, where it is not `warehouse_id`."""

NOT_READY = {
    "outcomes": "keyed by (client_id, seq): one phone's numbering spans its warehouses",
    "client_state": "one row per phone, locked by its pushes to every warehouse",
    "attachments": "content-addressed photos, shared by warehouses",
    "alert_events": "one identity sequence for every warehouse",
}
"""Tables that grow with the data but are not distributed by warehouse yet (issue 18, point 7)."""

KNOWN_UNIQUE = {("records", ("id",))}
"""Unique indexes of distributed tables without the warehouse: the unique record id (the engine
reads records by id; ids are UUIDv7, unique by construction)."""

Shape = dict[str, tuple[tuple[str, ...], list[tuple[str, ...]]]]


def sqlite_shape(rows: Callable[..., list[tuple[object, ...]]]) -> Shape:
    shape: Shape = {}
    tables = rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    for (table,) in tables:
        info = rows(f"SELECT name, pk FROM pragma_table_info('{table}') WHERE pk > 0 ORDER BY pk")
        unique = [
            tuple(str(c) for (c,) in rows(f"SELECT name FROM pragma_index_info('{name}') ORDER BY seqno"))
            for name, is_unique in rows(f"SELECT name, \"unique\" FROM pragma_index_list('{table}')")
            if is_unique
        ]
        shape[str(table)] = (tuple(str(name) for name, _ in info), unique)
    return shape


def postgres_shape(rows: Callable[..., list[tuple[object, ...]]]) -> Shape:
    shape: Shape = {}
    found = rows(
        "SELECT c.relname, i.indisprimary,"
        " array_to_string(ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k(n, o)"
        "  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.n ORDER BY k.o), ',')"
        " FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace AND ns.nspname = current_schema()"
        " LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisunique WHERE c.relkind = 'r'"
    )
    for table, primary, columns in found:
        pk, unique = shape.setdefault(str(table), ((), []))
        if columns is None:
            continue
        key = tuple(str(columns).split(","))
        shape[str(table)] = (key if primary else pk, [*unique, key])
    return shape


def broken_rules(shape: Shape) -> list[str]:
    broken = []
    for table, (pk, unique) in sorted(shape.items()):
        if table in REFERENCE or table in NOT_READY:
            continue
        column = DISTRIBUTION.get(table, "warehouse_id")
        if pk[:1] != (column,):
            broken.append(f"{table}: primary key {pk} does not lead with {column}")
        for key in unique:
            if key[:1] != (column,) and (table, key) not in KNOWN_UNIQUE:
                broken.append(f"{table}: unique index {key} does not lead with {column}")
    return broken


def shape_of(storage_backend: str, sql_rows: Callable[..., list[tuple[object, ...]]]) -> Shape:
    return sqlite_shape(sql_rows) if storage_backend == "sqlite" else postgres_shape(sql_rows)


async def test_every_table_is_reference_or_distributed_by_its_warehouse(
    storage: Storage, storage_backend: str, sql_rows: Callable[..., list[tuple[object, ...]]]
) -> None:
    shape = shape_of(storage_backend, sql_rows)
    assert not (REFERENCE & NOT_READY.keys())
    assert shape["records"] == (("warehouse_id", "id"), shape["records"][1])
    assert {("id",), ("warehouse_id", "revision")} <= set(shape["records"][1])
    broken = broken_rules(shape)
    assert not broken, "\n".join(broken)
    assert {"records", "warehouse_state", "warehouse_summary", "audit_log"} <= shape.keys()
    gone = NOT_READY.keys() - shape.keys()
    assert not gone, f"no longer in the schema, take them off NOT_READY: {gone}"

    doc = (Path(__file__).parents[2] / "docs" / "postgres.md").read_text(encoding="utf-8")
    section = doc.split("## Beyond one PostgreSQL server", 1)[1].split("\n## ", 1)[0]
    missing = sorted(shape.keys() - set(re.findall(r"`([a-z_]+)`", section)))
    assert not missing, f"docs/postgres.md does not say where these tables stand: {missing}"


async def test_a_new_table_keyed_without_its_warehouse_breaks_the_rule(
    storage: Storage, storage_backend: str, sql_rows: Callable[..., list[tuple[object, ...]]]
) -> None:
    sql_rows("CREATE TABLE seal_notes (id TEXT PRIMARY KEY, warehouse_id TEXT NOT NULL, note TEXT)")
    sql_rows("CREATE UNIQUE INDEX seal_notes_note ON seal_notes (note, warehouse_id)")
    assert set(broken_rules(shape_of(storage_backend, sql_rows))) == {
        "seal_notes: primary key ('id',) does not lead with warehouse_id",
        "seal_notes: unique index ('id',) does not lead with warehouse_id",
        "seal_notes: unique index ('note', 'warehouse_id') does not lead with warehouse_id",
    }
