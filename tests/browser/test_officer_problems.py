"""Problems only the officer can solve are told in the status bar and on the sync page, with what
to do, in Indonesian and English, and never as raw browser or server text: a phone whose access an
admin revoked, and a phone whose storage is full (the quota error made for real: Chromium's
DevTools protocol gives the origin a quota the next photo does not fit in)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, App, Server
from tests.browser.helpers import (
    WAREHOUSE,
    count_stock,
    go,
    local_photo_hashes,
    login,
    photo_payload,
    report_incident,
    sync_now,
    wait_synced,
)
from tests.browser.link import Link

RAW_ERRORS = re.compile(
    r"Failed to fetch|NetworkError|TypeError|AbortError|QuotaExceeded|DOMException|net::ERR|HTTP \d{3}|"
    r"Sesi tidak berlaku|sudah dicabut"  # the server's own (Indonesian-only) messages
)


async def shown_text(page: Page) -> str:
    return await page.locator("body").inner_text()


async def sync_now_answers(page: Page, text: str) -> None:
    button = page.locator("#sync-now")
    await expect(button).to_be_enabled()
    await button.click()
    await expect(page.locator("#sync-result")).to_contain_text(text, timeout=15_000)


async def test_a_phone_whose_access_an_admin_revoked_says_so_and_what_to_do(open_app, server: Server) -> None:
    app: App = await open_app("slamet")
    await login(app, "slamet")
    page = app.page
    app.allow_console(r"Failed to load resource: the server responded with a status of 401")
    with server.api("admin") as admin:
        [slamet] = [u for u in admin.get("/api/admin/users").json() if u["username"] == "slamet"]
        for device in admin.get(f"/api/admin/users/{slamet['id']}/devices").json():
            if device["revoked_at"] is None:
                response = admin.client.post(f"/api/admin/users/{slamet['id']}/devices/{device['id']}/revoke")
                assert response.status_code == 200, response.text

    await count_stock(page, "kotak_suara", 42)
    status = page.locator("#status-bar")
    problem = status.locator("[data-problem=token_revoked]")
    await expect(problem).to_have_text("Akses ponsel dicabut — hubungi admin", timeout=15_000)
    await expect(status.locator(".status-pending")).to_have_attribute("data-count", "1")
    await expect(status.locator("[data-problem=session_expired]")).to_have_count(0)

    await status.click()
    notice = page.locator(".notice[data-problem=token_revoked]")
    await expect(notice).to_contain_text("Akses ponsel ini ke server dicabut")
    await expect(notice).to_contain_text("Masuk lagi untuk mengirimnya, atau hubungi admin")
    await expect(notice.get_by_role("link", name="Masuk lagi")).to_be_visible()
    await sync_now_answers(page, "Belum berhasil: ada masalah yang perlu Anda atasi")
    assert not RAW_ERRORS.search(await shown_text(page)), await shown_text(page)

    await page.locator("#lang-toggle").click()
    await expect(problem).to_have_text("Phone access revoked — contact the admin")
    await expect(page.locator(".notice[data-problem=token_revoked]")).to_contain_text(
        "This phone's access to the server was revoked"
    )
    await sync_now_answers(page, "Not yet: there is a problem only you can solve")
    assert not RAW_ERRORS.search(await shown_text(page)), await shown_text(page)


@pytest.fixture
async def phone_with_a_profile(server: Server) -> AsyncIterator[App]:
    """A phone whose browser keeps a real profile on disk: Chromium enforces a quota override only
    there (in the incognito-like contexts of `open_app` the override is reported but not applied)."""
    link = Link(server.port)
    async with async_playwright() as playwright:
        with tempfile.TemporaryDirectory(prefix="tigapilar-profile-") as profile:
            context = await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                args=CHROMIUM_ARGS,
                viewport={"width": 360, "height": 740},
                is_mobile=True,
                has_touch=True,
                locale="id-ID",
                timezone_id="Asia/Jakarta",
            )
            page = context.pages[0] if context.pages else await context.new_page()
            app = App(name="slamet", context=context, page=page, link=link, base_url=link.url)
            app.watch(page)
            try:
                yield app
                assert not app.unexpected_errors(), app.unexpected_errors()
            finally:
                await context.close()
                link.close()


FILL_STORAGE = """async () => {
  // Other apps' files fill the phone: write 8 KB pieces into a database of their own until one
  // no longer fits (a real QuotaExceededError), so a photo (~50 KB) cannot fit either.
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open('other-files', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('files');
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  for (let piece = 0; piece < 100000; piece += 1) {
    const data = crypto.getRandomValues(new Uint8Array(8 * 1024));
    const failed = await new Promise((resolve) => {
      const tx = db.transaction('files', 'readwrite');
      tx.objectStore('files').put(data, piece);
      tx.oncomplete = () => resolve(null);
      tx.onabort = () => resolve(tx.error?.name ?? 'aborted');
    });
    if (failed) {
      db.close();
      return { pieces: piece, failed };
    }
  }
  db.close();
  return { pieces: -1, failed: null };
}"""
QUOTA_BYTES = 3_000_000
"""The phone's storage for the app: room for the app and its data, and a little more."""


async def test_storage_full_is_told_where_the_photo_failed_and_in_the_status(
    phone_with_a_profile: App, server: Server
) -> None:
    app = phone_with_a_profile
    page = app.page
    # Chromium takes a quota override for an origin before the origin first uses its storage.
    app.allow_console(r"favicon\.ico")  # the plain /healthz page has none
    await page.goto(f"{app.base_url}/healthz")
    cdp = await app.context.new_cdp_session(page)
    await cdp.send("Storage.overrideQuotaForOrigin", {"origin": app.base_url, "quotaSize": QUOTA_BYTES})
    await login(app, "slamet")
    await go(page, f"#/w/{WAREHOUSE}/incident/new")
    await expect(page.locator("input[type=file]")).to_be_attached()
    filled = await page.evaluate(FILL_STORAGE)
    assert filled["failed"] == "QuotaExceededError" and filled["pieces"] > 0, filled

    try:
        await page.locator("input[type=file]").set_input_files([photo_payload(61)])
        alert = page.get_by_role("alert").filter(has_text="penyimpanan ponsel penuh")
        await expect(alert).to_contain_text("Tidak tersimpan: penyimpanan ponsel penuh")
        await expect(page.locator(".thumbs img")).to_have_count(0)
        status = page.locator("#status-bar")
        await expect(status.locator("[data-problem=storage_full]")).to_have_text("Penyimpanan ponsel penuh")
        assert not RAW_ERRORS.search(await shown_text(page)), await shown_text(page)

        await status.click()
        await expect(page.locator(".notice[data-problem=storage_full]")).to_contain_text(
            "hapus foto, video atau aplikasi lain"
        )
        # Syncing goes on meanwhile (nothing waits): the button answers as usual.
        await sync_now_answers(page, "Berhasil: semua terkirim")
        await page.locator("#lang-toggle").click()
        await expect(status.locator("[data-problem=storage_full]")).to_have_text("Phone storage full")
        await expect(page.locator(".notice[data-problem=storage_full]")).to_contain_text(
            "delete photos, videos or apps"
        )
        assert not RAW_ERRORS.search(await shown_text(page)), await shown_text(page)
    finally:
        await cdp.send("Storage.overrideQuotaForOrigin", {"origin": app.base_url})
        await page.evaluate("indexedDB.deleteDatabase('other-files')")


DAMAGE_PHOTO = """async (sha) => {
  // The photo's bytes on the phone lose their second half (a storage fault): its name, the sha256
  // of what the camera took, no longer matches them, and the real server refuses the upload.
  const { loadSession } = await import('/js/session.js');
  const { openUserDb } = await import('/js/db.js');
  const db = await openUserDb((await loadSession()).userId);
  const photo = await db.get('photos', sha);
  const bytes = new Uint8Array(await photo.blob.arrayBuffer());
  const damaged = new Blob([bytes.slice(0, bytes.length >> 1)], { type: photo.blob.type });
  await db.put('photos', { ...photo, blob: damaged, size: damaged.size });
  db.close();
}"""


async def test_refused_changes_and_photos_are_told_in_the_pages_language(open_app, server: Server) -> None:
    """With the page in English, why the server refused a change and a photo reads in English, from
    the vocabulary by the machine code; the server's own (Indonesian) message never shows."""
    from sync.vocabulary import WORDS

    app: App = await open_app("slamet")
    await login(app, "slamet")
    page = app.page
    incident_id = "019b0000-0000-7000-8000-00000000a17e"
    with server.api("agus") as api:  # Agus reported it from his phone: Slamet may take it up
        [created] = api.push({
            "collection": "incidents", "op": "create", "id": incident_id, "warehouse_id": WAREHOUSE,
            "fields": {"category": "cctv_mati", "severity": "sedang", "description": "Kamera lorong 2 mati"},
        })  # fmt: skip
        assert created["status"] == "applied", created
    await sync_now(page)

    # Offline: Slamet acknowledges the incident and reports another with a photo, whose bytes
    # then get damaged on the phone; meanwhile the supervisor resolves the first incident.
    app.link.refuse()
    await go(page, f"#/w/{WAREHOUSE}/incident/{incident_id}")
    await page.get_by_role("button", name="Terima laporan").click()
    await report_incident(page, description="Segel pintu belakang putus")
    [sha] = await local_photo_hashes(page)
    await page.evaluate(DAMAGE_PHOTO, sha)
    with server.api("rina") as api:
        revision = api.pull_all()[incident_id]["revision"]
        [resolved] = api.push({
            "collection": "incidents", "op": "resolve", "id": incident_id, "base_rev": revision,
            "fields": {"resolution": "Kamera sudah menyala"},
        })  # fmt: skip
        assert resolved["status"] == "applied", resolved
    app.allow_console(r"Failed to load resource: the server responded with a status of 400")
    app.link.restore()
    await wait_synced(page)

    await page.locator("#lang-toggle").click()
    await go(page, "#/sync")
    refused = page.locator(".sync-view .entry[data-state=rejected] .rejected-reason")
    await expect(refused).to_have_attribute("data-code", "invalid_transition")
    await expect(refused).to_have_text(WORDS["en"]["reject.invalid_transition"])
    photo = page.locator(".sync-view .rejected-reason[data-code=hash_mismatch]")
    await expect(photo).to_have_text(f"{WORDS['en']['photo_refused.hash_mismatch']} Take the photo again.")
    # The status bar redraws in the new language after a short debounce; toasts said before the
    # switch (in Indonesian, rightly) fade after 5 s.
    await expect(page.locator("#status-bar")).to_contain_text("1 refused")
    await expect(page.locator(".toast")).to_have_count(0, timeout=15_000)
    shown = await shown_text(page)
    for indonesian in ("Isi berkas tidak cocok", "Perubahan status tidak sah", "ditolak", "Foto rusak"):
        assert indonesian not in shown, shown
    assert "hash_mismatch" not in shown and "invalid_transition" not in shown, shown
