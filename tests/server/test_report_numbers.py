"""Berita acara numbers under concurrent submissions: two real `tigapilar serve` processes on one
database (the SQLite file, or PostgreSQL with --backend postgres), many officers submitting at
once through both. Every submitted inspection has a number, and per warehouse the numbers are
1..N: no gap, no duplicate. Also: an honest all-good pass through the published checklist yields
no finding."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.seed import load_template
from server.storage import Storage
from sync.domain import Template, answer_field
from tests.factories import Factory, bearer
from tests.server.test_postgres_concurrency import _start_server, _wait_ready, stop_servers

pytestmark = pytest.mark.slow

PHOTO = "a" * 64


def all_good_answers(template: Template) -> dict[str, Any]:
    """What an officer enters when everything is in order: "Ya" to every yes/no question, the
    first choice that is no finding, an answer to every other item."""
    fields: dict[str, Any] = {}
    for item in template.items():
        if item.kind == "yes_no":
            value: Any = "ya"
        elif item.kind == "choice":
            value = next(c for c in item.choices if c not in item.finding_if)
        elif item.kind == "number":
            value = item.expected if item.expected is not None else 4
        elif item.kind == "seal":
            value = "KPU-JB 004217"
        elif item.kind == "photo":
            value = [PHOTO]
        else:
            value = "Sesuai"
        fields[answer_field(item)] = value
    return fields


def inspection(
    n: int, warehouse_id: str, template: Template, seq: int, client_id: str
) -> list[dict[str, Any]]:
    record_id = str(uuid.uuid4())
    base = {"collection": "inspections", "id": record_id, "base_rev": 0, "schema_version": 2}
    stamp = f"{1_700_000_000_000 + n:013d}"
    fields = {"template_id": template.id, "shift": "pagi", **all_good_answers(template)}
    return [
        {**base, "seq": seq, "op": "create", "warehouse_id": warehouse_id,
         "hlc": f"{stamp}-00000-{client_id}",
         "fields": fields},
        {**base, "seq": seq + 1, "op": "submit", "fields": {}, "hlc": f"{stamp}-00001-{client_id}"},
    ]  # fmt: skip


async def push(http: httpx.AsyncClient, base: str, client_id: str, token: str, mutations: list[Any]) -> Any:
    body = {"protocol": 1, "client_id": client_id, "schema_version": 2, "mutations": mutations}
    response = await http.post(f"{base}/api/sync/push", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


async def test_numbers_stay_gapless_under_concurrent_submissions_through_two_processes(
    storage: Storage, database_url: str, tmp_path: Path, sql_rows: Any
) -> None:
    factory = Factory(storage)
    await factory.reference_data()
    template = load_template()
    warehouses = [await factory.warehouse(id=f"gd-{c}", code=c) for c in ("johar_baru", "senen")]
    phones: list[tuple[str, str, str]] = []
    for n in range(8):
        warehouse = warehouses[n % 2]
        user = await factory.user(warehouses=[warehouse])
        client_id = f"phone-{n:02d}-abcdef"
        phones.append((client_id, await factory.token(user, client_id=client_id), warehouse.id))
    await storage.close()  # the two server processes own the database now

    servers = [_start_server(database_url, tmp_path, name) for name in ("one", "two")]
    try:
        for process, base, log in servers:
            _wait_ready(process, base, log)
        bases = [base for _, base, _ in servers]
        async with httpx.AsyncClient(timeout=60) as http:

            async def phone(n: int) -> list[str]:
                client_id, token, warehouse_id = phones[n]
                results = []
                for k in range(3):  # three inspections each, alternating servers
                    answer = await push(
                        http, bases[(n + k) % 2], client_id, token,
                        inspection(n * 10 + k, warehouse_id, template, k * 2 + 1, client_id),
                    )  # fmt: skip
                    assert [r["status"] for r in answer["results"]] == ["applied", "applied"], answer
                    results.append(answer["results"][1]["id"])
                return results

            submitted = [
                i for ids in await asyncio.gather(*(phone(n) for n in range(len(phones)))) for i in ids
            ]
    finally:
        stop_servers(servers)
    await storage.open()

    records = await storage.get_records(submitted)
    numbers: dict[str, list[int]] = {"JOHAR-BARU": [], "SENEN": []}
    for record in records.values():
        assert record.fields["findings"] == [], "an all-good pass yields no finding"
        match = re.fullmatch(r"BA/([A-Z-]+)/(\d{4})/(\d{4})", record.fields["report_number"])
        assert match, record.fields["report_number"]
        numbers[match[1]].append(int(match[3]))
    assert len(records) == 24
    assert {code: sorted(found) for code, found in numbers.items()} == {
        "JOHAR-BARU": list(range(1, 13)),
        "SENEN": list(range(1, 13)),
    }
    rows = sql_rows("SELECT warehouse_id, last FROM report_counters ORDER BY warehouse_id")
    assert [tuple(r) for r in rows] == [("gd-johar_baru", 12), ("gd-senen", 12)]
