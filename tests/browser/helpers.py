"""Steps an officer takes in the app, shared by the browser tests."""

from __future__ import annotations

import hashlib
import io
import random
import re
from typing import Any

from playwright.async_api import Page, expect

from tests.browser.conftest import PASSWORD, App

WAREHOUSE = "gd-johar-baru"
"""The demo warehouse of the Johar Baru officers (slamet, agus, joko, ...)."""


def make_jpeg(seed: int = 1, width: int = 2400, height: int = 1800) -> bytes:
    """A camera-sized JPEG (bigger than the app's 1600 px limit, so it gets resized)."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        x, y = rng.randrange(width), rng.randrange(height)
        draw.rectangle(
            [x, y, x + rng.randrange(50, 600), y + rng.randrange(50, 400)],
            fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)),
        )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def photo_payload(seed: int) -> dict[str, Any]:
    return {"name": f"foto-{seed}.jpg", "mimeType": "image/jpeg", "buffer": make_jpeg(seed)}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def login(app: App, username: str) -> None:
    """First visit (online): log in and wait until the service worker controls the page and the
    first sync finished (reference data and replica on the phone)."""
    page = app.page
    await page.goto(f"{app.base_url}/")
    await page.get_by_label("Nama pengguna").fill(username)
    await page.get_by_label("Kata sandi").fill(PASSWORD)
    await page.get_by_role("button", name="Masuk").click()
    await expect(page.get_by_role("heading", name="Gudang saya")).to_be_visible()
    await wait_for_controller(page)
    await wait_synced(page)


async def wait_for_controller(page: Page, timeout_s: float = 30) -> None:
    """Until a service worker controls the page. (Polled from here: wait_for_function evaluates its
    predicate with eval inside the page, which the app's CSP forbids.)"""
    for _ in range(int(timeout_s * 10)):
        if await page.evaluate("() => navigator.serviceWorker.controller !== null"):
            return
        await page.wait_for_timeout(100)
    raise AssertionError("no service worker controls the page")


SYNC_STATE = """async () => {
  const { loadSession } = await import('/js/session.js');
  const { openUserDb } = await import('/js/db.js');
  const session = await loadSession();
  if (!session) return null;
  const db = await openUserDb(session.userId);
  const entries = await db.getAll('outbox');
  const lastSync = await db.get('meta', 'last_sync');
  db.close();
  return { unanswered: entries.filter((e) => e.state !== 'rejected').length, lastSync: lastSync ?? 0 };
}"""


async def sync_state(page: Page) -> dict[str, int]:
    """From the phone's IndexedDB: outbox entries not yet reflected by a pull, and the time of the
    last completed sync (ms)."""
    return await page.evaluate(SYNC_STATE)


async def wait_synced(page: Page, timeout: float = 30_000, *, after: int = 0) -> None:
    """Until the outbox is empty (every mutation pushed and reflected by a pull) and a sync
    completed after `after` (ms); then the status bar must say so too."""
    for _ in range(int(timeout / 100)):
        state = await sync_state(page)
        if state and state["unanswered"] == 0 and state["lastSync"] > after:
            break
        await page.wait_for_timeout(100)
    else:
        raise AssertionError(f"not synced: {await sync_state(page)}")
    await expect(page.locator("#status-bar .status-pending")).to_have_attribute("data-count", "0")
    await expect(page.locator("#status-bar .status-last")).to_contain_text("Sinkron")


async def expect_pending(page: Page, count: int | None = None) -> None:
    """Until the status bar counts `count` changes waiting to be sent (when None: at least one).
    The bar is drawn a moment after the outbox changes (and after a reload): read at once, it may
    still show the count from before, or none yet."""
    await expect(page.locator("#status-bar .status-pending")).to_have_attribute(
        "data-count", re.compile(r"^[1-9][0-9]*$") if count is None else str(count)
    )


async def go(page: Page, hash_: str) -> None:
    await page.evaluate("(h) => { location.hash = h; }", hash_)
    await expect(page).to_have_url(re.compile(re.escape(hash_) + "$"))


def record_id(page: Page) -> str:
    return page.url.rsplit("/", 1)[-1]


async def start_inspection(page: Page) -> str:
    await go(page, f"#/w/{WAREHOUSE}")
    await page.get_by_role("button", name="Mulai inspeksi").click()
    await page.wait_for_url("**/inspection/*")
    await expect(page.locator(".inspection.editable")).to_be_visible()
    return record_id(page)


async def answer_item(
    page: Page, item: dict[str, Any], *, finding: bool = False, photo_seed: int = 1
) -> None:
    """Answer one template item through the UI, by its kind."""
    box = page.locator(f"#item-{item['code']}")
    kind = item["kind"]
    if kind == "yes_no":
        await box.locator("label.seg-tidak" if finding else "label.seg-ya").click()
    elif kind == "choice":
        await box.locator("label.seg").first.click()
    elif kind == "number":
        expected = item.get("expected")
        value = (expected if expected is not None else 4) + (5 if finding else 0)
        await box.locator("input[type=number]").fill(str(int(value)))
    elif kind == "seal":
        await box.locator("input").fill("KPU-0012345")
    elif kind == "text":
        await box.locator("textarea").fill(f"Catatan {item['code']}")
    elif kind == "photo":
        await box.locator("input[type=file]").set_input_files(photo_payload(photo_seed))
        await expect(box.locator(".thumbs img[src^='blob:']")).to_have_count(1)


async def fill_inspection(page: Page, template: dict[str, Any], *, finding_code: str | None = None) -> None:
    """Answer every item of the template (one of them as a finding), until the form says the
    last change is stored on the phone."""
    seed = 10
    for section in template["sections"]:
        for item in section["items"]:
            seed += 1
            await answer_item(page, item, finding=item["code"] == finding_code, photo_seed=seed)
    await wait_saved(page)


async def wait_saved(page: Page) -> None:
    await expect(page.locator(".save-state")).to_have_attribute("data-state", "saved")


async def submit_inspection(page: Page) -> None:
    await page.get_by_role("button", name="Kirim inspeksi").click()
    await page.get_by_role("button", name="Ya, kirim").click()
    await expect(page.locator(".inspection.readonly")).to_be_visible()
    await expect(page.locator(".meta-card .status-submitted")).to_be_visible()


async def report_incident(
    page: Page, *, description: str, severity: str = "Tinggi", photo_seed: int = 99
) -> str:
    await go(page, f"#/w/{WAREHOUSE}/incident/new")
    await page.get_by_label("Kategori").select_option("segel_rusak")
    await page.locator("fieldset.choice label", has_text=severity).click()
    await page.get_by_label("Uraian kejadian").fill(description)
    await page.get_by_label("Lokasi").fill("Pintu utama lantai 4")
    await page.locator("input[type=file]").set_input_files(photo_payload(photo_seed))
    await expect(page.locator(".thumbs img[src^='blob:']")).to_have_count(1)
    await page.get_by_role("button", name="Laporkan").click()
    await page.wait_for_url("**/incident/0*")
    await expect(page.locator(".incident h1")).to_be_visible()
    return record_id(page)


async def local_photo_hashes(page: Page) -> list[str]:
    """sha256 names of the photos kept in this officer's IndexedDB."""
    return await page.evaluate(
        """async () => {
          const { loadSession } = await import('/js/session.js');
          const { openUserDb } = await import('/js/db.js');
          const session = await loadSession();
          const db = await openUserDb(session.userId);
          const keys = (await db.getAll('photos')).map((p) => p.sha);
          db.close();
          return keys;
        }"""
    )


async def sync_now(page: Page) -> None:
    """Tap the status bar, then "Sinkronkan sekarang"; wait for that round to finish."""
    before = (await sync_state(page))["lastSync"]
    await page.locator("#status-bar").click()
    await page.get_by_role("button", name="Sinkronkan sekarang").click()
    await wait_synced(page, after=before)


async def local_record(page: Page, record_id: str) -> dict[str, Any] | None:
    """A record as held in this phone's replica (IndexedDB), without pending edits."""
    return await page.evaluate(
        """async (id) => {
          const { loadSession } = await import('/js/session.js');
          const { openUserDb } = await import('/js/db.js');
          const session = await loadSession();
          const db = await openUserDb(session.userId);
          const record = await db.get('records', id);
          db.close();
          return record ?? null;
        }""",
        record_id,
    )


async def count_stock(page: Page, item_code: str, counted: int, *, damaged_light: int = 0) -> None:
    await go(page, f"#/w/{WAREHOUSE}/stock")
    row = page.locator(f"fieldset.stock-row[data-item='{item_code}']")
    await row.get_by_label("Dihitung").fill(str(counted))
    await row.get_by_label("Rusak ringan").fill(str(damaged_light))
    await expect(row.locator(".diff")).to_contain_text("Selisih")
    await page.get_by_role("button", name="Simpan hitungan").click()
    await page.wait_for_url(f"**/#/w/{WAREHOUSE}")
