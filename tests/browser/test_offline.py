"""The officer's day without signal: log in once, then inspect and report offline; when the
network comes back, the outbox drains by itself and the server holds exactly one copy.

The network is cut for real (tests/browser/link.py refuses the phone's connections, its service
worker's included) and `navigator.onLine` keeps saying online: the app must tell from the
server's (missing) answers."""

from __future__ import annotations

import hashlib

from playwright.async_api import expect

from tests.browser.conftest import App, Server
from tests.browser.helpers import (
    WAREHOUSE,
    count_stock,
    expect_pending,
    fill_inspection,
    go,
    local_photo_hashes,
    login,
    report_incident,
    start_inspection,
    submit_inspection,
    sync_state,
    wait_synced,
)

INCIDENT_TEXT = "Segel pintu gudang sobek di sisi kiri, ditemukan saat patroli malam"
STOCK_ITEM = "kotak_suara"
SHORT = 3
"""The stock count finds this many ballot boxes fewer than expected."""


async def offline_inspection_and_incident(app: App, server: Server) -> tuple[str, str, dict, int]:
    """Log in online, cut the network, reload, then fill and submit an inspection with photos,
    report an incident and count stock. Returns (inspection id, incident id, template, expected
    quantity of the counted stock item)."""
    with server.api("slamet") as api:
        template = api.get("/api/templates/current").json()
        expected = api.pull_all()[f"sl.{WAREHOUSE}.{STOCK_ITEM}"]["fields"]["expected"]
    await login(app, "slamet")
    page = app.page

    app.link.refuse()
    await page.reload()
    await expect(page.locator("#status-bar .status-net")).to_have_text("Tidak ada koneksi")
    await expect(page.get_by_role("heading", name="Gudang saya")).to_be_visible()

    inspection_id = await start_inspection(page)
    items = [item for section in template["sections"] for item in section["items"]]
    first_yes_no = next(item for item in items if item["kind"] == "yes_no")
    await fill_inspection(page, template, finding_code=first_yes_no["code"])
    await expect(page.locator(f"#item-{first_yes_no['code']}.is-finding")).to_be_visible()
    await expect(page.locator(f"#item-{first_yes_no['code']} .badge-finding")).to_be_visible()

    # The tab is killed before submitting: nothing typed is lost.
    text_item = next(item for item in items if item["kind"] == "text")
    page = await app.reopen()
    await page.goto(f"{app.base_url}/#/w/{WAREHOUSE}/inspection/{inspection_id}")
    await expect(page.locator(f"#item-{text_item['code']} textarea")).to_have_value(
        f"Catatan {text_item['code']}"
    )
    await expect(page.locator(f"#item-{first_yes_no['code']} label.seg-tidak input")).to_be_checked()
    await app.screenshot("inspection-form-offline")

    await submit_inspection(page)
    await app.screenshot("inspection-submitted-offline")

    incident_id = await report_incident(page, description=INCIDENT_TEXT)
    await expect(page.locator(".meta-card .chip-pending")).to_be_visible()
    await app.screenshot("incident-offline")

    # A stock count against the warehouse's expected quantity, a few ballot boxes short.
    await count_stock(page, STOCK_ITEM, expected - SHORT, damaged_light=2)
    await expect_pending(page)
    await expect(page.locator("#status-bar .status-net")).to_have_text("Tidak ada koneksi")
    return inspection_id, incident_id, template, expected


async def test_offline_reload_inspection_and_incident(open_app, server: Server) -> None:
    app = await open_app("slamet")
    inspection_id, incident_id, _, _ = await offline_inspection_and_incident(app, server)
    page = app.page

    # Reloading offline still shows the app, with both records waiting to be sent.
    await page.reload()
    await expect(page.get_by_role("heading", name="Gudang Logistik KPU Kecamatan Johar Baru")).to_be_visible()
    await expect(page.locator(f"a[href$='/inspection/{inspection_id}'] .status-submitted")).to_be_visible()
    await expect(page.locator(f"a[href$='/incident/{incident_id}']")).to_be_visible()
    await app.screenshot("warehouse-offline")

    # Logging out with unsent data warns, and cancelling keeps everything.
    pending = (await sync_state(page))["unanswered"]  # offline: nothing was answered yet
    assert pending > 0
    await expect_pending(page, pending)
    await page.get_by_role("button", name="Keluar").click()
    dialog = page.locator("#logout-dialog")
    await expect(dialog).to_contain_text(f"{pending} perubahan yang belum terkirim")
    await app.screenshot("logout-warning")
    await dialog.get_by_role("button", name="Batal").click()
    await expect_pending(page, pending)

    # Nothing reached the server while offline.
    with server.api("rina") as api:
        records = api.pull_all()
    assert inspection_id not in records
    assert incident_id not in records


async def test_reconnect_drains_outbox_exactly_once(open_app, server: Server) -> None:
    app = await open_app("slamet")
    inspection_id, incident_id, template, expected = await offline_inspection_and_incident(app, server)
    page = app.page
    local_hashes = set(await local_photo_hashes(page))

    app.link.restore()  # no click, no online event: the app notices the answers by itself
    await wait_synced(page)
    await expect(page.locator("#status-bar .status-net")).to_have_text("Daring")
    await app.screenshot("synced")

    with server.api("rina") as api:
        records = api.pull_all()
        inspection = records[inspection_id]
        incident = records[incident_id]
        assert inspection["fields"]["status"] == "submitted"
        assert incident["fields"]["description"] == INCIDENT_TEXT
        # Exactly one copy: no other record carries the same content.
        mine = [
            r
            for r in records.values()
            if r["collection"] == "inspections"
            and r["fields"].get("inspector_id") == inspection["fields"]["inspector_id"]
            and r["fields"].get("status") == "submitted"
            and r["id"] != inspection_id
            and r["fields"].get("started_at") == inspection["fields"]["started_at"]
        ]
        assert mine == []
        same_incidents = [
            r
            for r in records.values()
            if r["collection"] == "incidents" and r["fields"].get("description") == INCIDENT_TEXT
        ]
        assert [r["id"] for r in same_incidents] == [incident_id]
        assert sum(1 for r in records.values() if r["id"] == inspection_id) == 1

        # The stock count, with the expected quantity the phone showed.
        counts = [
            r
            for r in records.values()
            if r["collection"] == "stock_counts"
            and r["fields"].get("counted") == expected - SHORT
            and r["fields"].get("damaged_light") == 2
        ]
        assert len(counts) == 1
        assert counts[0]["fields"]["item_type"] == STOCK_ITEM
        assert counts[0]["fields"]["expected"] == expected

        # Every answer reached the server, the finding was recognised.
        items = [item for section in template["sections"] for item in section["items"]]
        for item in items:
            field = ("p." if item["kind"] == "photo" else "a.") + item["code"]
            assert inspection["fields"].get(field) not in (None, "", []), field
        assert inspection["fields"]["findings"]

        # Photo bytes on the server hash to their names, and are the ones taken on the phone.
        hashes = list(incident["fields"]["photos"])
        for item in items:
            if item["kind"] == "photo":
                hashes += inspection["fields"][f"p.{item['code']}"]
        assert hashes and set(hashes) <= local_hashes
        for sha in hashes:
            body = api.get(f"/api/attachments/{sha}").content
            assert hashlib.sha256(body).hexdigest() == sha
            assert body[:2] == b"\xff\xd8"  # a JPEG, compressed on the phone

    # The phone shows the server's state now (no pending badge).
    await go(page, f"#/w/{WAREHOUSE}/incident/{incident_id}")
    await expect(page.locator(".meta-card .chip-pending")).to_have_count(0)
