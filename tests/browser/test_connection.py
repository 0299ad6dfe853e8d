"""The phone tells the truth about its connection: the network goes through a loopback forwarder
(tests/browser/link.py) that the test breaks the way a warehouse does, while `navigator.onLine`
keeps saying online (as on a Wi-Fi without uplink, or one bar with no data)."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.conftest import App, Server
from tests.browser.helpers import (
    WAREHOUSE,
    count_stock,
    fill_inspection,
    go,
    login,
    start_inspection,
    submit_inspection,
    wait_synced,
)

RAW_ERRORS = re.compile(r"Failed to fetch|NetworkError|TypeError|AbortError|net::ERR|HTTP \d{3}")
STOCK_ITEM = "kotak_suara"


async def shown_text(page: Page) -> str:
    return await page.locator("body").inner_text()


async def test_lie_fi_shows_the_server_not_answering_within_seconds_and_recovers_by_itself(
    open_app, server: Server
) -> None:
    app: App = await open_app("slamet")
    await login(app, "slamet")
    page = app.page

    # Connections are accepted and never answered; the officer counts stock meanwhile.
    app.link.black_hole()
    await count_stock(page, STOCK_ITEM, 40)
    status = page.locator("#status-bar")
    # Sent ~1.5 s after the edit; within 5 s of that the bar says the server does not answer.
    await expect(status.locator(".status-net")).to_have_text("Server tidak menjawab", timeout=6_500)
    await expect(status.locator(".status-pending")).to_have_attribute("data-count", "1")
    await expect(status.locator(".status-retry")).to_contain_text("coba lagi")
    assert await page.evaluate("navigator.onLine") is True  # the browser still believes it is online

    # The sync page says the same, in words, and "Sinkronkan sekarang" answers visibly.
    await status.click()
    await expect(page.locator("#connection")).to_have_text("Server tidak menjawab")
    await expect(page.locator("#sync-state")).to_contain_text("server tidak menjawab")
    button = page.get_by_role("button", name="Sinkronkan sekarang")
    await expect(button).to_be_enabled()
    await button.click()
    await expect(page.locator("#sync-result")).to_have_text(re.compile("Mencoba|Belum berhasil"))
    await expect(page.locator("#sync-result")).to_contain_text(
        "Belum berhasil: server tidak menjawab", timeout=10_000
    )
    await expect(page.locator("#sync-result")).to_have_attribute("data-outcome", "failed")
    assert not RAW_ERRORS.search(await shown_text(page)), await shown_text(page)

    # Answers come back without the browser announcing anything: the app notices by itself.
    app.link.restore()
    await expect(status.locator(".status-net")).to_have_text("Daring", timeout=6_500)
    await wait_synced(page)
    await expect(page.locator("#connection")).to_have_text("Daring")
    await expect(page.locator("#sync-state")).to_contain_text("sudah ada di server")
    with server.api("rina") as api:
        counts = [
            r
            for r in api.pull_all().values()
            if r["collection"] == "stock_counts" and r["fields"].get("counted") == 40
        ]
    assert len(counts) == 1


async def test_no_connection_is_told_apart_and_sync_now_always_answers(open_app, server: Server) -> None:
    app: App = await open_app("slamet")
    await login(app, "slamet")
    page = app.page
    app.link.refuse()
    await count_stock(page, STOCK_ITEM, 41)
    status = page.locator("#status-bar")
    await expect(status.locator(".status-net")).to_have_text("Tidak ada koneksi", timeout=6_500)
    await status.click()
    await expect(page.locator("#connection")).to_have_text("Tidak ada koneksi")
    await page.get_by_role("button", name="Sinkronkan sekarang").click()
    await expect(page.locator("#sync-result")).to_contain_text("Belum berhasil: tidak ada koneksi")
    assert not RAW_ERRORS.search(await shown_text(page))

    # In English too, with no raw error text.
    await page.locator("#lang-toggle").click()
    await expect(page.locator("#connection")).to_have_text("No connection")
    await expect(status.locator(".status-net")).to_have_text("No connection")
    await page.get_by_role("button", name="Sync now").click()
    await expect(page.locator("#sync-result")).to_contain_text("Not yet: no connection")
    assert not RAW_ERRORS.search(await shown_text(page))
    await page.locator("#lang-toggle").click()

    app.link.restore()
    await expect(status.locator(".status-net")).to_have_text("Daring", timeout=6_500)
    await wait_synced(page)
    await page.get_by_role("button", name="Sinkronkan sekarang").click()
    await expect(page.locator("#sync-result")).to_contain_text("Berhasil: semua terkirim")


async def test_an_offline_submit_shows_one_consistent_badge_then_on_the_server(
    open_app, server: Server
) -> None:
    with server.api("slamet") as api:
        template = api.get("/api/templates/current").json()
    app: App = await open_app("slamet")
    await login(app, "slamet")
    page = app.page
    app.link.refuse()
    inspection_id = await start_inspection(page)
    await fill_inspection(page, template)
    await submit_inspection(page)

    meta = page.locator(".meta-card")
    await expect(meta.locator(".chip-pending")).to_have_text("Belum terkirim")
    await expect(meta.locator(".chip-synced")).to_have_count(0)
    # "Submitted" is not "sent": no badge says sent while another says not sent.
    await expect(meta.locator(".status-submitted")).to_have_text("Menunggu diperiksa")
    assert "Terkirim" not in (await meta.inner_text()).replace("Belum terkirim", "")
    await go(page, f"#/w/{WAREHOUSE}")
    row = page.locator(f"a[href$='/inspection/{inspection_id}']")
    await expect(row.locator(".chip-pending")).to_be_visible()
    assert "Terkirim" not in (await row.inner_text()).replace("Belum terkirim", "")

    app.link.restore()
    await wait_synced(page)
    await expect(row.locator(".chip-synced")).to_have_text("Di server")
    await expect(row.locator(".chip-pending")).to_have_count(0)
    await go(page, f"#/w/{WAREHOUSE}/inspection/{inspection_id}")
    await expect(meta.locator(".chip-synced")).to_have_text("Di server")
    await expect(meta.locator(".chip-pending")).to_have_count(0)
