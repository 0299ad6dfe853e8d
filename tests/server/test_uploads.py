"""Resumable photo uploads (server/uploads.py) through the real app: ranges with Content-Range, the
stored-bytes query, the final SHA-256 check, wrong offsets, abandoned partials, a client that goes
away mid-upload."""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import logging
import os
import random
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from PIL import Image

from server.api.attachments import partial_uploads
from server.storage import Storage
from server.uploads import PARTIAL_TTL_S, PartialUploads
from tests.factories import Factory, bearer


def _photo(seed: int = 3) -> bytes:
    """A JPEG of some 100 KB that does not compress away (noise)."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (480, 320), rng.randbytes(480 * 320 * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
async def officer(client: httpx.AsyncClient, factory: Factory) -> dict[str, str]:
    await factory.reference_data()
    user = await factory.user(warehouses=[await factory.warehouse()])
    return bearer(await factory.token(user, client_id=f"dev-up-{user.id[:8]}"))


async def put_range(
    client: httpx.AsyncClient, headers: dict[str, str], sha: str, data: bytes, start: int, end: int
) -> httpx.Response:
    return await client.put(
        f"/api/attachments/{sha}",
        content=data[start : end + 1],
        headers={
            **headers,
            "Content-Type": "image/jpeg",
            "Content-Range": f"bytes {start}-{end}/{len(data)}",
        },
    )


async def stored_bytes(client: httpx.AsyncClient, headers: dict[str, str], sha: str) -> dict[str, Any]:
    response = await client.get(f"/api/attachments/{sha}/upload", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_photo_sent_in_ranges_is_stored_only_when_whole_and_checked(
    client: httpx.AsyncClient, officer: dict[str, str]
) -> None:
    data = _photo()
    sha = hashlib.sha256(data).hexdigest()
    assert await stored_bytes(client, officer, sha) == {
        "sha256": sha,
        "stored": 0,
        "size": None,
        "complete": False,
    }
    cut = [0, 30_000, 60_000, len(data)]
    for start, stop in itertools.pairwise(cut[:-1]):
        answer = await put_range(client, officer, sha, data, start, stop - 1)
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"sha256": sha, "size": len(data), "stored": stop, "complete": False}
        # Not whole yet: the server does not have the photo.
        missing = await client.post("/api/attachments/missing", json={"hashes": [sha]}, headers=officer)
        assert missing.json()["missing"] == [sha]
        assert (await client.get(f"/api/attachments/{sha}", headers=officer)).status_code == 404
        assert (await stored_bytes(client, officer, sha))["stored"] == stop

    last = await put_range(client, officer, sha, data, cut[-2], len(data) - 1)
    assert last.status_code == 201, last.text
    assert last.json()["complete"] is True and last.json()["created"] is True
    got = await client.get(f"/api/attachments/{sha}", headers=officer)
    assert got.content == data
    assert await stored_bytes(client, officer, sha) == {
        "sha256": sha,
        "stored": len(data),
        "size": len(data),
        "complete": True,
    }
    # Sending a range of a photo the server has is harmless.
    again = await put_range(client, officer, sha, data, 0, 999)
    assert again.status_code == 200 and again.json()["complete"] is True


async def test_a_range_that_does_not_continue_the_stored_bytes_is_refused_with_the_offset(
    client: httpx.AsyncClient, officer: dict[str, str]
) -> None:
    data = _photo(4)
    sha = hashlib.sha256(data).hexdigest()
    assert (await put_range(client, officer, sha, data, 0, 9_999)).status_code == 202
    for start in (5_000, 20_000, 0):
        wrong = await put_range(client, officer, sha, data, start, start + 999)
        assert wrong.status_code == 409, wrong.text
        assert wrong.json()["code"] == "upload_offset_mismatch"
        assert wrong.json()["stored"] == 10_000
    assert (await stored_bytes(client, officer, sha))["stored"] == 10_000

    short = await client.put(
        f"/api/attachments/{sha}",
        content=data[10_000:10_500],
        headers={**officer, "Content-Range": f"bytes 10000-10999/{len(data)}"},
    )
    assert short.status_code == 400 and short.json()["code"] == "content_range_mismatch"
    assert short.json()["stored"] == 10_500  # the bytes that came are kept: they are good

    longer = await client.put(
        f"/api/attachments/{sha}",
        content=data[10_500:12_000],
        headers={**officer, "Content-Range": f"bytes 10500-10999/{len(data)}"},
    )
    assert longer.status_code == 400 and longer.json()["code"] == "content_range_mismatch"

    other_size = await client.put(
        f"/api/attachments/{sha}", content=b"x" * 10, headers={**officer, "Content-Range": "bytes 0-9/999"}
    )
    assert other_size.status_code == 409 and other_size.json()["code"] == "upload_size_mismatch"

    for header in ("bytes 5-2/100", "bytes 0-9/5", "bytes=0-9/100", "items 0-9/100", "bytes 0-9/*"):
        bad = await client.put(
            f"/api/attachments/{sha}", content=b"x" * 10, headers={**officer, "Content-Range": header}
        )
        assert bad.status_code == 400 and bad.json()["code"] == "bad_content_range", header
    huge = await client.put(
        f"/api/attachments/{sha}",
        content=b"x" * 10,
        headers={**officer, "Content-Range": "bytes 0-9/99999999"},
    )
    assert huge.status_code == 413 and huge.json()["code"] == "body_too_large"


async def test_whole_ranges_that_do_not_hash_to_the_name_are_refused_and_forgotten(
    client: httpx.AsyncClient, officer: dict[str, str]
) -> None:
    data = _photo(5)
    forged = bytearray(data)
    forged[5000] ^= 0xFF
    sha = hashlib.sha256(data).hexdigest()
    assert (await put_range(client, officer, sha, bytes(forged), 0, 49_999)).status_code == 202
    refused = await put_range(client, officer, sha, bytes(forged), 50_000, len(data) - 1)
    assert refused.status_code == 400 and refused.json()["code"] == "hash_mismatch"
    # The bad bytes are gone: the phone starts over, and the right bytes are taken.
    assert (await stored_bytes(client, officer, sha))["stored"] == 0
    assert (await put_range(client, officer, sha, data, 0, len(data) - 1)).status_code == 201


async def test_abandoned_partial_uploads_are_removed_after_the_time_limit(
    client: httpx.AsyncClient, officer: dict[str, str], storage: Storage
) -> None:
    data = _photo(6)
    sha = hashlib.sha256(data).hexdigest()
    assert (await put_range(client, officer, sha, data, 0, 9_999)).status_code == 202
    uploads = partial_uploads(storage)
    [partial] = uploads.directory.iterdir()
    assert uploads.sweep() == []  # fresh: kept
    old = time.time() - PARTIAL_TTL_S - 60
    os.utime(partial, (old, old))
    assert uploads.sweep() == [partial.name]
    assert (await stored_bytes(client, officer, sha))["stored"] == 0
    # The sweep runs by itself on uploads, at most every SWEEP_INTERVAL_S.
    assert uploads.sweep_due(now=time.monotonic() + 10**6)
    assert not uploads.sweep_due(now=time.monotonic() + 10**6 + 1)


def test_a_sweep_keeps_partials_still_being_written(tmp_path: Path) -> None:
    uploads = PartialUploads(tmp_path, ttl_s=60)
    uploads.directory.mkdir(parents=True)
    (uploads.directory / f"{'a' * 64}.100").write_bytes(b"x" * 10)
    assert uploads.sweep(now=time.time() + 30) == []
    assert uploads.sweep(now=time.time() + 120) == [f"{'a' * 64}.100"]


async def test_a_client_gone_mid_upload_keeps_the_bytes_that_came_and_logs_one_warning(
    app: Litestar, client: httpx.AsyncClient, officer: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Straight through ASGI: the body arrives in two pieces, then the client disconnects."""
    data = _photo(7)
    sha = hashlib.sha256(data).hexdigest()
    pieces = [
        {"type": "http.request", "body": data[:20_000], "more_body": True},
        {"type": "http.request", "body": data[20_000:30_000], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pieces:
            return pieces.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [
        (b"authorization", officer["Authorization"].encode()),
        (b"content-type", b"image/jpeg"),
        (b"content-range", f"bytes 0-{len(data) - 1}/{len(data)}".encode()),
        (b"content-length", str(len(data)).encode()),
        (b"host", b"testserver"),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": f"/api/attachments/{sha}",
        "raw_path": f"/api/attachments/{sha}".encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    with caplog.at_level(logging.WARNING):
        await app(scope, receive, send)  # type: ignore[arg-type]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warnings] == ["tigapilar.attachments"], [r.getMessage() for r in warnings]
    assert "cut off by the client after 30000" in warnings[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)
    assert (await stored_bytes(client, officer, sha))["stored"] == 30_000
    rest = await put_range(client, officer, sha, data, 30_000, len(data) - 1)
    assert rest.status_code == 201, rest.text
    assert (await client.get(f"/api/attachments/{sha}", headers=officer)).content == data
