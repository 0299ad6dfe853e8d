"""The pull feed's gzip (server.compress): parts compressed on threads must still make one gzip
member any reader accepts, byte for byte the input."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.compress import WINDOW, gzip_bytes, gzip_parts
from tests.factories import Factory, bearer


@settings(max_examples=60, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=5000),
        st.text(max_size=3000).map(lambda t: (t * 7).encode()),  # repetitive, like JSON
    ),
    parts=st.integers(1, 5),
    level=st.sampled_from([1, 6, 9]),
)
async def test_parts_make_one_gzip_member_of_exactly_the_input(data: bytes, parts: int, level: int) -> None:
    packed = await gzip_bytes(data, level=level, parts=parts, part_min=64)
    assert gzip.decompress(packed) == data
    assert zlib.decompress(packed, wbits=31) == data  # one member: a strict single-member reader


async def test_a_big_page_is_split_and_back_references_cross_the_cut() -> None:
    page = b"".join(
        b'{"id":"inc-%06d","fields":{"description":"Segel kotak suara sobek"}},' % i for i in range(60_000)
    )
    assert len(gzip_parts(page)) == 2
    packed = await gzip_bytes(page)
    assert gzip.decompress(packed) == page
    # Each part primed with the window before it: about the size of a one-piece stream.
    assert len(packed) < len(gzip.compress(page, compresslevel=1)) * 1.01 + WINDOW // 64


async def test_pull_is_gzipped_for_clients_that_accept_it_and_identical_once_decoded(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await factory.reference_data()
    warehouse = await factory.warehouse()
    officer = await factory.user(warehouses=[warehouse])
    token = await factory.token(officer, client_id="dev-gzip-0001")
    headers = {**bearer(token), "Content-Type": "application/json"}
    mutations: list[dict[str, Any]] = [
        {
            "seq": n,
            "id": f"inc-{n:04d}",
            "collection": "incidents",
            "op": "create",
            "hlc": f"1764000000{n:03d}-00000-dev-gzip-0001",
            "warehouse_id": warehouse.id,
            "fields": {"category": "segel_rusak", "severity": "sedang", "description": f"Segel {n} sobek"},
        }
        for n in range(1, 301)
    ]
    push = {"protocol": 1, "client_id": "dev-gzip-0001", "schema_version": 2, "mutations": mutations}
    assert (await client.post("/api/sync/push", json=push, headers=headers)).status_code == 200
    pull = {"protocol": 1, "client_id": "dev-gzip-0001", "cursors": {}, "limit": 1000}

    zipped = await client.post("/api/sync/pull", json=pull, headers={**headers, "Accept-Encoding": "gzip"})
    plain = await client.post("/api/sync/pull", json=pull, headers={**headers, "Accept-Encoding": "identity"})
    assert zipped.status_code == plain.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    assert zipped.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"
    assert int(zipped.headers["content-length"]) < len(plain.content) / 3
    a, b = zipped.json(), plain.json()  # httpx decodes the gzip
    for answer in (a, b):
        answer.pop("server_hlc")
        answer.pop("server_time_ms")
    assert a == b and len(a["changes"]) == 300
    assert zipped.headers["content-type"].startswith("application/json")


async def test_small_answers_make_no_compressor_and_large_ones_are_still_gzipped(
    client: httpx.AsyncClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from litestar.middleware.compression import middleware

    made: list[object] = []
    real = middleware.GzipCompression

    def counting(*args: Any, **kwargs: Any) -> Any:
        made.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(middleware, "GzipCompression", counting)
    await factory.reference_data()
    warehouse = await factory.warehouse()
    officer = await factory.user(warehouses=[warehouse])
    token = await factory.token(officer, client_id="dev-gzip-0002")
    headers = {**bearer(token), "Content-Type": "application/json", "Accept-Encoding": "gzip"}

    def push(first: int, count: int) -> dict[str, Any]:
        mutations = [
            {"seq": n, "id": f"inc-z{n:04d}", "collection": "incidents", "op": "create",
             "hlc": f"1764000000{n:03d}-00000-dev-gzip-0002", "warehouse_id": warehouse.id,
             "fields": {"category": "segel_rusak", "severity": "sedang", "description": f"Segel {n}"}}
            for n in range(first, first + count)
        ]  # fmt: skip
        return {"protocol": 1, "client_id": "dev-gzip-0002", "schema_version": 2, "mutations": mutations}

    small = await client.post("/api/sync/push", json=push(1, 1), headers=headers)
    assert small.status_code == 200 and small.json()["results"][0]["status"] == "applied"
    assert "content-encoding" not in small.headers and len(small.content) < 1024
    assert made == []  # below the threshold: no gzip stream set up at all
    large = await client.post("/api/sync/push", json=push(2, 100), headers=headers)
    assert large.status_code == 200 and large.headers["content-encoding"] == "gzip"
    assert int(large.headers["content-length"]) < 1024 < len(large.content)
    assert [r["status"] for r in large.json()["results"]] == ["applied"] * 100
    assert len(made) == 1
