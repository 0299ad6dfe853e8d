"""Two officers change the same incident while both are offline."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import Server
from tests.browser.helpers import (
    WAREHOUSE,
    expect_pending,
    go,
    local_record,
    login,
    report_incident,
    sync_now,
    wait_synced,
)


async def test_concurrent_severity_edits_converge_and_show_both_values(open_app, server: Server) -> None:
    slamet, agus = await open_app("slamet"), await open_app("agus")
    await login(slamet, "slamet")
    await login(agus, "agus")

    incident_id = await report_incident(
        slamet.page, description="Atap bocor di atas rak kotak suara", severity="Sedang"
    )
    await wait_synced(slamet.page)
    await sync_now(agus.page)
    url = f"#/w/{WAREHOUSE}/incident/{incident_id}"

    # Both go offline and set a different severity.
    for app, severity in ((slamet, "Tinggi"), (agus, "Kritis")):
        app.link.refuse()
        await go(app.page, url)
        await app.page.locator("fieldset.choice label", has_text=severity).click()
        await expect_pending(app.page, 1)

    # Slamet's change reaches the server first; Agus's arrives as a concurrent change of a
    # flagged field: the server keeps Slamet's value and records Agus's in a conflict.
    slamet.link.restore()
    await wait_synced(slamet.page)
    agus.link.restore()
    await wait_synced(agus.page)
    await sync_now(slamet.page)

    records = []
    for app in (slamet, agus):
        page = app.page
        await go(page, url)
        await expect(
            page.locator("fieldset.choice label", has_text="Tinggi").locator("input")
        ).to_be_checked()
        conflict = page.locator("#conflicts .conflict").first
        await expect(conflict).to_be_visible()
        await expect(conflict.locator(".conflict-server .value")).to_have_text("Tinggi")
        await expect(conflict.locator(".conflict-client .value")).to_have_text("Kritis")
        await expect(page.locator("#status-bar .status-conflicts")).to_have_attribute("data-count", "1")
        await app.screenshot(f"conflict-{app.name}")
        records.append(await local_record(page, incident_id))

    # Both phones hold the same record, the same as the server's.
    assert records[0] == records[1]
    assert records[0]["fields"]["severity"] == "tinggi"
    with server.api("rina") as api:
        on_server = api.pull_all()
    assert on_server[incident_id]["revision"] == records[0]["revision"]
    conflicts = [
        r
        for r in on_server.values()
        if r["collection"] == "conflicts" and r["fields"]["record_id"] == incident_id
    ]
    assert len(conflicts) == 1
    assert conflicts[0]["fields"]["server_value"] == "tinggi"
    assert conflicts[0]["fields"]["client_value"] == "kritis"

    # The sync screen lists it too, with both values.
    await slamet.page.locator("#status-bar").click()
    await expect(slamet.page.locator(".sync-view .conflict .conflict-client .value")).to_have_text("Kritis")
    await slamet.screenshot("sync-status-conflict")
