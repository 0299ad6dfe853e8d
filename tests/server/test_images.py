"""server/images.py: photos checked without decoding (end markers, scans, dimensions), decoded once
in a worker process with a time limit, their dimensions and thumbnail kept, and a login that never
waits for any of it."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import threading
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from PIL import Image

from server import images
from server.config import Config
from server.images import ImageDecoder, ImageRefused, ImagesBusy, decode_image, layout
from server.storage import Storage
from tests.conftest import open_client
from tests.factories import PASSWORD, Factory, bearer, scan_bomb
from tests.server.test_sync_api import INCIDENT, Device


def encoded(kind: str, size: tuple[int, int] = (320, 240), **options: Any) -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, kind, **options)
    return out.getvalue()


def zip_file() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("index.html", "<script>alert(document.cookie)</script>")
    return out.getvalue()


async def upload(client: httpx.AsyncClient, token: str, data: bytes) -> httpx.Response:
    sha = hashlib.sha256(data).hexdigest()
    return await client.put(f"/api/attachments/{sha}", content=data, headers=bearer(token))


# -- structure, without decoding ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("JPEG", {}),
        ("JPEG", {"progressive": True, "optimize": True}),
        ("JPEG", {"exif": b"Exif\x00\x00" + b"\x00" * 32, "restart_marker_blocks": 2}),
        ("PNG", {}),
        ("WEBP", {}),
        ("WEBP", {"lossless": True}),
    ],
)
def test_ordinary_photos_pass_the_structure_check_and_decode(kind: str, options: dict[str, Any]) -> None:
    data = encoded(kind, **options)
    found = layout(data)
    assert found.mime == f"image/{kind.lower()}" and found.scans <= 10
    decoded = decode_image(data)
    assert (decoded.width, decoded.height) == (320, 240)
    assert Image.open(io.BytesIO(decoded.thumbnail)).format == "JPEG"


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize(
    ("tail", "what"),
    [(b"<html><script>alert(1)</script></html>", "html"), (zip_file(), "zip"), (b"\x00", "one byte")],
)
def test_bytes_after_the_end_of_the_image_are_a_polyglot(kind: str, tail: bytes, what: str) -> None:
    with pytest.raises(ImageRefused) as refused:
        layout(encoded(kind) + tail)
    assert refused.value.code == "trailing_data", what


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "WEBP"])
def test_a_truncated_container_is_unreadable(kind: str) -> None:
    data = encoded(kind)
    for cut in (len(data) - 1, len(data) // 2, 16):
        with pytest.raises(ImageRefused) as refused:
            layout(data[:cut])
        assert refused.value.code == "unreadable_image", cut


def test_a_jpeg_with_more_scans_than_allowed_is_refused_before_decoding() -> None:
    assert layout(scan_bomb(64, 64, repeats=images.MAX_SCANS - 10)).scans == images.MAX_SCANS
    with pytest.raises(ImageRefused) as refused:
        layout(scan_bomb(64, 64, repeats=images.MAX_SCANS - 9))
    assert refused.value.code == "image_too_complex"


def test_dimensions_are_checked_from_the_header() -> None:
    jpeg = bytearray(encoded("JPEG", (64, 48)))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = (9000).to_bytes(2, "big") + (9000).to_bytes(2, "big")
    with pytest.raises(ImageRefused) as refused:
        layout(bytes(jpeg))
    assert refused.value.code == "image_too_large"


# -- the decoder: another process, bounded in time and in waiting ---------------------------------------
async def test_decoding_happens_in_a_worker_process_not_in_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pillow broken in this process: the decoder still decodes, in its worker."""

    def no_decoding_here(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("decoded in the server process")

    monkeypatch.setattr(Image, "open", no_decoding_here)
    decoder = ImageDecoder()
    try:
        decoded = await decoder.decode(encoded("JPEG"))
    finally:
        decoder.close()
    assert (decoded.mime, decoded.width, decoded.height) == ("image/jpeg", 320, 240)


async def test_a_decode_out_of_time_is_refused_and_the_worker_replaced() -> None:
    decoder = ImageDecoder(timeout_s=0.001)
    try:
        with pytest.raises(ImageRefused) as refused:
            await decoder.decode(encoded("PNG", (1600, 1200)))
        assert refused.value.code == "image_too_complex" and decoder.killed == 1
        decoder.timeout_s = 60
        assert (await decoder.decode(encoded("JPEG"))).width == 320  # a fresh worker
    finally:
        decoder.close()


async def test_photos_beyond_the_queue_are_busy_not_queued_without_end() -> None:
    decoder = ImageDecoder(workers=1, max_waiting=0)
    try:
        first = asyncio.create_task(decoder.decode(encoded("PNG", (1600, 1200))))
        await asyncio.sleep(0)  # the first has taken the only place
        with pytest.raises(ImagesBusy):
            await decoder.decode(encoded("JPEG"))
        assert (await first).width == 1600
        assert (await decoder.decode(encoded("JPEG"))).width == 320
    finally:
        decoder.close()


# -- over HTTP ------------------------------------------------------------------------------------------
async def test_a_progressive_scan_bomb_is_refused_with_a_clear_code(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    token = await factory.token(await factory.user())
    bomb = scan_bomb()
    assert len(bomb) < 64 * 1024
    response = await upload(client, token, bomb)
    assert (response.status_code, response.json()["code"]) == (415, "image_too_complex")


async def test_a_polyglot_is_refused(client: httpx.AsyncClient, factory: Factory) -> None:
    token = await factory.token(await factory.user())
    response = await upload(client, token, encoded("JPEG") + b"<html><script>alert(1)</script></html>")
    assert (response.status_code, response.json()["code"]) == (415, "trailing_data")


async def test_a_photo_that_decodes_too_slowly_is_refused(
    config: Config, storage: Storage, factory: Factory
) -> None:
    app = _app(config, storage, image_decode_timeout_s=0.001)
    token = await factory.token(await factory.user())
    async for client in open_client(app):
        response = await upload(client, token, encoded("PNG", (1600, 1200)))
        assert (response.status_code, response.json()["code"]) == (415, "image_too_complex")


async def test_dimensions_and_thumbnail_are_kept_at_upload_so_nothing_decodes_the_original_again(
    client: httpx.AsyncClient, factory: Factory, storage: Storage
) -> None:
    warehouse = await factory.warehouse()
    token = await factory.token(await factory.user(warehouses=[warehouse]), client_id="dev-thumb-001")
    photo = encoded("JPEG", (1600, 1200))
    sha = hashlib.sha256(photo).hexdigest()
    assert (await upload(client, token, photo)).status_code == 201
    phone = Device(client, token, "dev-thumb-001")
    fields = {**INCIDENT, "photos": [sha]}
    assert (
        await phone.push([phone.mutation("create", "inc-1", warehouse_id=warehouse.id, fields=fields)])
    ).is_success
    meta = await storage.attachment(sha)
    assert meta is not None and (meta.mime, meta.width, meta.height) == ("image/jpeg", 1600, 1200)
    thumb_file = images.thumbnail_path(storage.data_dir, sha)
    assert thumb_file.exists()
    # The original no longer decodes: the thumbnail is served all the same, from what was kept.
    (storage.data_dir / meta.path).write_bytes(b"\xff\xd8\xff\xe0 not a photo any more")
    thumb = await client.get(f"/api/attachments/{sha}/thumb", headers=bearer(token))
    assert thumb.status_code == 200 and thumb.content == thumb_file.read_bytes()
    assert Image.open(io.BytesIO(thumb.content)).size == (320, 240)


async def test_a_berita_acara_embeds_the_kept_thumbnails_never_the_originals(
    client: httpx.AsyncClient, factory: Factory, storage: Storage
) -> None:
    from server.seed.demo import JB, seed_demo
    from tests.factories import FAST_PASSWORDS
    from tests.server.test_report_pdf import first_reviewed, report_url

    await seed_demo(storage, passwords=FAST_PASSWORDS)
    found = await storage.user_by_username("hendra")
    assert found is not None
    auth = bearer(await factory.token(found[0]))
    record = (await first_reviewed(client, auth, JB))["record"]
    first = await client.get(report_url(record["id"]), headers=auth)
    assert first.status_code == 200 and len(re.findall(rb"/Subtype /Image", first.content)) == 2
    # Demo photos are stored without thumbnails: the first PDF had them made (once, in the worker).
    # Now spoil every original: the PDF still shows both photos, from the kept thumbnails.
    for original in (storage.data_dir / "attachments").rglob("*"):
        if original.is_file():
            original.write_bytes(b"\xff\xd8\xff\xe0 spoiled")
    again = await client.get(report_url(record["id"]), headers=auth)
    assert again.status_code == 200 and len(re.findall(rb"/Subtype /Image", again.content)) == 2


# -- a login never waits for photos ---------------------------------------------------------------------
async def test_a_login_does_not_wait_for_a_full_default_thread_pool(
    config: Config, storage: Storage, factory: Factory
) -> None:
    """Every thread of the default executor (photo reads, PDFs) busy: a login still goes through,
    because passwords are hashed on threads of their own."""
    await factory.user(username="sari")
    app = _app(config, storage)
    release, started = threading.Event(), threading.Semaphore(0)

    def hold_a_thread() -> None:
        started.release()
        release.wait(60)

    async for client in open_client(app):
        size = min(32, (os.cpu_count() or 1) + 4)  # ThreadPoolExecutor's default: the loop's executor
        blocked = asyncio.gather(*(asyncio.to_thread(hold_a_thread) for _ in range(size + 4)))
        try:
            for _ in range(size):  # every thread of the default executor is held
                while not started.acquire(blocking=False):
                    await asyncio.sleep(0.01)
            body = {"username": "sari", "password": PASSWORD, "device_name": "HP", "client_id": "dev-sari-01"}
            login = await asyncio.wait_for(client.post("/api/auth/login", json=body), 20)
            assert login.status_code == 200, login.text
        finally:
            release.set()
            await blocked


def _app(config: Config, storage: Storage, **overrides: Any) -> Litestar:
    from dataclasses import replace

    from server.app import create_app

    return create_app(replace(config, **overrides), storage=storage)


def test_a_new_thumbnail_goes_where_the_pdf_and_the_endpoint_look(tmp_path: Path) -> None:
    sha = "ab" * 32
    assert images.thumbnail_path(tmp_path, sha) == tmp_path / "thumbs" / "ab" / f"{sha}.jpg"
    assert images.original_path(tmp_path, sha) == tmp_path / "attachments" / "ab" / sha


def test_the_same_file_written_by_many_at_once_ends_whole(tmp_path: Path) -> None:
    """The same thumbnail asked for by two pages at once is made twice and written twice: each write
    renames its own temporary file, so neither fails and the file is one whole write."""
    target = tmp_path / "thumbs" / "ab" / "x.jpg"
    contents = [bytes([n]) * 200_000 for n in range(16)]
    start = threading.Barrier(len(contents))
    errors: list[BaseException] = []

    def write(data: bytes) -> None:
        start.wait()
        try:
            images.write_atomically(target, data)
        except BaseException as exc:  # collected: the assertion below says which
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(c,)) for c in contents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and target.read_bytes() in contents
    assert [p.name for p in target.parent.iterdir()] == ["x.jpg"]


def test_every_reason_to_refuse_a_photo_has_a_word_in_both_languages() -> None:
    """The phone marks a photo refused on a 400, 413 or 415 (static/js/sync-client.js) and tells
    the officer why in the page's language by the code: each code those answers carry has a word."""
    from sync.vocabulary import WORDS

    source = (Path(__file__).parents[2] / "server/api/attachments.py").read_text(encoding="utf-8")
    codes = set(images.MESSAGES) | set(re.findall(r'ApiError\(\s*4(?:00|13|15),\s*"([a-z_]+)"', source))
    codes |= {"body_too_large"}  # the 413 of any request over the size limit (server/errors.py)
    assert {"unsupported_type", "hash_mismatch", "content_range_mismatch"} <= codes, codes
    for lang in ("id", "en"):
        missing = sorted(c for c in codes if f"photo_refused.{c}" not in WORDS[lang])
        assert missing == [], f"{lang}: no word for {missing}"
