"""One phone, two officers: the second never sees the first one's drafts or unsent changes, and
logging out never throws unsent data away."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import PASSWORD, Server
from tests.browser.helpers import WAREHOUSE, expect_pending, go, login, report_incident, wait_synced

DESCRIPTION = "Kabel ties pada tiga kotak suara terputus"


async def log_in_again(page, username: str) -> None:
    await page.get_by_label("Nama pengguna").fill(username)
    await page.get_by_label("Kata sandi").fill(PASSWORD)
    await page.get_by_role("button", name="Masuk").click()
    await expect(page.get_by_role("heading", name="Gudang saya")).to_be_visible()


async def test_second_officer_sees_nothing_of_the_first(open_app, server: Server) -> None:
    app = await open_app("phone")
    app.allow_console(r"Failed to load resource: net::ERR_FAILED")
    await login(app, "slamet")
    page = app.page

    # Slamet: one unsent incident (pushes fail) and a half-typed draft of another.
    await page.route("**/api/sync/push", lambda route: route.abort())
    await report_incident(page, description=DESCRIPTION)
    await go(page, f"#/w/{WAREHOUSE}/incident/new")
    await page.get_by_label("Uraian kejadian").fill("Draf milik Slamet")
    await go(page, "#/")
    await expect_pending(page, 1)

    # Logging out warns about the unsent change; it stays on the phone.
    await page.get_by_role("button", name="Keluar").click()
    dialog = page.locator("#logout-dialog")
    await expect(dialog).to_contain_text("1 perubahan yang belum terkirim")
    await dialog.get_by_role("button", name="Keluar").click()
    await expect(page.get_by_role("heading", name="Masuk")).to_be_visible()

    # Agus on the same phone: nothing of Slamet's.
    await log_in_again(page, "agus")
    await wait_synced(page)
    await expect_pending(page, 0)
    await go(page, f"#/w/{WAREHOUSE}/incident/new")
    await expect(page.get_by_label("Uraian kejadian")).to_have_value("")
    await go(page, f"#/w/{WAREHOUSE}")
    await expect(page.get_by_text(DESCRIPTION)).to_have_count(0)
    databases = await page.evaluate("indexedDB.databases().then((d) => d.map((x) => x.name))")
    assert (
        len([name for name in databases if name.startswith("tigapilar-") and name != "tigapilar-device"]) == 2
    )
    await app.screenshot("shared-phone-second-officer")

    # Agus logs out (nothing pending: his copy is removed); Slamet comes back to his data.
    await page.get_by_role("button", name="Keluar").click()
    await page.locator("#logout-dialog").get_by_role("button", name="Keluar").click()
    await expect(page.get_by_role("heading", name="Masuk")).to_be_visible()
    await page.unroute("**/api/sync/push")
    await log_in_again(page, "slamet")
    await wait_synced(page, timeout=60_000)
    await go(page, f"#/w/{WAREHOUSE}/incident/new")
    await expect(page.get_by_label("Uraian kejadian")).to_have_value("Draf milik Slamet")
    with server.api("rina") as api:
        records = api.pull_all()
    assert [r for r in records.values() if r["fields"].get("description") == DESCRIPTION]
