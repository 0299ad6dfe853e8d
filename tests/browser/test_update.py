"""A new app version is deployed while an officer has edits that have not been sent yet."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.browser.conftest import Server
from tests.browser.helpers import (
    WAREHOUSE,
    answer_item,
    expect_pending,
    go,
    login,
    start_inspection,
    wait_for_controller,
    wait_saved,
    wait_synced,
)

SW_VERSION = re.compile(r"const VERSION = '([^']+)';")


async def test_update_banner_reload_keeps_pending_edits(open_app, server: Server) -> None:
    app = await open_app("slamet")
    app.allow_console(r"Failed to load resource: net::ERR_FAILED")  # pushes blocked on purpose
    with server.api("slamet") as api:
        template = api.get("/api/templates/current").json()
    await login(app, "slamet")
    page = app.page
    old_version = SW_VERSION.search((server.static_dir / "sw.js").read_text())[1]
    assert old_version in await page.evaluate("caches.keys().then((k) => k.join(','))")

    # Offline edits: an inspection with a few answers, not sent.
    app.link.refuse()
    inspection_id = await start_inspection(page)
    items = [item for section in template["sections"] for item in section["items"]]
    chosen = [next(i for i in items if i["kind"] == kind) for kind in ("yes_no", "text", "number")]
    for item in chosen:
        await answer_item(page, item)
    await wait_saved(page)
    await expect_pending(page)

    # Deploy a new version; the network comes back but pushes fail for now, so the edits stay pending.
    sw = server.static_dir / "sw.js"
    new_version = f"{old_version}-next"
    sw.write_text(
        sw.read_text().replace(f"const VERSION = '{old_version}';", f"const VERSION = '{new_version}';")
    )
    await page.route("**/api/sync/push", lambda route: route.abort())
    app.link.restore()
    await page.evaluate("navigator.serviceWorker.getRegistration().then((r) => r.update())")

    banner = page.locator("#update-banner")
    await expect(banner).to_contain_text("Versi baru tersedia — muat ulang", timeout=30_000)
    await app.screenshot("update-banner")
    async with page.expect_navigation():
        await banner.get_by_role("button", name="Muat ulang").click()

    # The new worker controls the page, the old cache is gone, IndexedDB is untouched.
    await wait_for_controller(page)
    caches = await page.evaluate("caches.keys()")
    assert any(new_version in name for name in caches)
    assert not any(name.endswith(old_version) for name in caches)
    await expect(banner).to_be_hidden()
    await expect_pending(page)
    await go(page, f"#/w/{WAREHOUSE}/inspection/{inspection_id}")
    yes_no, text, number = chosen
    await expect(page.locator(f"#item-{yes_no['code']} label.seg-ya input")).to_be_checked()
    await expect(page.locator(f"#item-{text['code']} textarea")).to_have_value(f"Catatan {text['code']}")
    await expect(page.locator(f"#item-{number['code']} input")).not_to_have_value("")

    # Pushes work again: the edits sync without any tap.
    await page.unroute("**/api/sync/push")
    await wait_synced(page, timeout=90_000)
    with server.api("rina") as api:
        record = api.pull_all()[inspection_id]
    assert record["fields"][f"a.{yes_no['code']}"] == "ya"
    assert record["fields"][f"a.{text['code']}"] == f"Catatan {text['code']}"
