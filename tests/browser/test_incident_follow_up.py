"""Following an incident: another pillar acknowledges it and adds a note offline; the reporter
sees both, and is never offered to take up his own report. A change the server refuses is shown
with the server's code and message; a resolved incident shows itself locked."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import Server
from tests.browser.helpers import WAREHOUSE, go, login, report_incident, sync_now, wait_synced


async def test_acknowledge_and_note_offline_reach_the_reporter(open_app, server: Server) -> None:
    slamet, joko = await open_app("slamet"), await open_app("joko")
    await login(slamet, "slamet")
    await login(joko, "joko")
    incident_id = await report_incident(
        slamet.page, description="Lampu gudang lantai 4 mati total", severity="Sedang"
    )
    await wait_synced(slamet.page)
    await sync_now(joko.page)
    # Four eyes: the reporter's own phone does not offer "Terima laporan".
    await expect(slamet.page.locator("#incident-own")).to_be_visible()
    await expect(slamet.page.get_by_role("button", name="Terima laporan")).to_have_count(0)

    # Joko (TNI), offline: acknowledges and adds a note.
    page = joko.page
    joko.link.refuse()
    await go(page, f"#/w/{WAREHOUSE}/incident/{incident_id}")
    await page.get_by_role("button", name="Terima laporan").click()
    await expect(page.locator(".meta-card .status-acknowledged")).to_be_visible()
    await page.get_by_label("Catatan baru").fill("Sudah dilaporkan ke PLN, teknisi datang pukul 10.00")
    await page.get_by_role("button", name="Tambah catatan").click()
    await expect(page.locator(".notes .note")).to_have_count(1)
    joko.link.restore()
    await wait_synced(joko.page)

    # Slamet sees the status, who acknowledged, and the note with its author.
    await sync_now(slamet.page)
    page = slamet.page
    await go(page, f"#/w/{WAREHOUSE}/incident/{incident_id}")
    await expect(page.locator(".meta-card .status-acknowledged")).to_be_visible()
    await expect(page.locator(".meta-card .facts")).to_contain_text("Joko Susilo")
    note = page.locator(".notes .note")
    await expect(note).to_contain_text("Sudah dilaporkan ke PLN")
    await expect(note).to_contain_text("Serka Joko Susilo (TNI)")
    await slamet.screenshot("incident-acknowledged")


async def test_refused_change_is_listed_with_code_and_message(open_app, server: Server) -> None:
    app = await open_app("slamet")
    await login(app, "slamet")
    page = app.page
    # Agus reported it (from his own phone): Slamet may take it up.
    incident_id = "0192f3c4-8a1b-7c2d-9e3f-4a5b6c7d8e9f"
    with server.api("agus") as api:
        fields = {
            "category": "kebocoran_banjir",
            "severity": "rendah",
            "description": "Genangan air di dekat pintu darurat",
        }
        [created] = api.push(
            {
                "collection": "incidents",
                "op": "create",
                "id": incident_id,
                "warehouse_id": WAREHOUSE,
                "fields": fields,
            }
        )
        assert created["status"] == "applied"
    await sync_now(page)

    # Offline, Slamet acknowledges; meanwhile the supervisor resolves the incident.
    app.link.refuse()
    await go(page, f"#/w/{WAREHOUSE}/incident/{incident_id}")
    await page.get_by_role("button", name="Terima laporan").click()
    with server.api("rina") as api:
        revision = api.pull_all()[incident_id]["revision"]
        [result] = api.push(
            {
                "collection": "incidents",
                "op": "resolve",
                "id": incident_id,
                "base_rev": revision,
                "fields": {"resolution": "Air sudah dikeringkan"},
            }
        )
        assert result["status"] == "applied"

    app.link.restore()
    await wait_synced(page)
    bar = page.locator("#status-bar .status-rejected")
    await expect(bar).to_have_attribute("data-count", "1")
    await bar.click()
    refused = page.locator(".sync-view .entry[data-state=rejected]")
    await expect(refused).to_have_count(1)
    # The reason in words; the machine code only in an attribute, for support.
    await expect(refused.locator(".rejected-reason")).to_have_text("Perubahan status tidak sah")
    await expect(refused.locator(".rejected-reason")).to_have_attribute("data-code", "invalid_transition")
    await app.screenshot("sync-status-rejected")

    # The incident shows the server's state, not the refused change; dismissing clears the list.
    await go(page, f"#/w/{WAREHOUSE}/incident/{incident_id}")
    await expect(page.locator(".meta-card .status-resolved")).to_be_visible()
    await expect(page.locator("#incident-locked")).to_contain_text("Terkunci")
    await expect(page.locator("textarea[name=description]")).to_be_disabled()
    await page.locator("#status-bar").click()
    await page.get_by_role("button", name="Tutup").click()
    await expect(page.locator("#status-bar .status-rejected")).to_have_count(0)
