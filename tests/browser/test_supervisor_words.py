"""The supervisor's stock and chart pages say what the data says, in words (issue 17): a filter
with nothing to show is not "no data", and charts carry their figures, axes and names."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.browser._supervisor_fixtures import supervisor_page
from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JB = "gd-johar-baru"
CP = "gd-cempaka-putih"


async def test_only_differences_says_that_every_count_matches_not_that_there_is_no_data(
    browser: Browser, server: Server
) -> None:
    with server.api("hendra") as api:
        lines = api.get("/api/supervisor/stock").json()
    counted = {w: sum(1 for line in lines if line["warehouse_id"] == w and line["last"]) for w in (JB, CP)}
    never = {w: sum(1 for line in lines if line["warehouse_id"] == w and not line["last"]) for w in (JB, CP)}
    # The demo: Johar Baru's ballot boxes differ; every count in Cempaka Putih matches.
    assert [line["item_type"] for line in lines if line["discrepancy"]] == ["kotak_suara"]
    assert counted[CP] > 0 and never[CP] > 0

    async with supervisor_page(browser, server, "hendra") as sup:
        page = sup.page
        await page.goto(f"{server.base_url}/supervisor/#/stock")
        cempaka = page.locator(f'section.panel[data-warehouse="{CP}"]')
        await expect(cempaka.locator("table tbody tr")).to_have_count(counted[CP] + never[CP])

        await page.get_by_label("Tampilkan").select_option("bad")
        johar = page.locator(f'section.panel[data-warehouse="{JB}"]')
        await expect(johar.locator("table tbody tr")).to_have_count(1)
        await expect(johar.locator("tr[data-item=kotak_suara]")).to_be_visible()
        await expect(cempaka.locator("table")).to_have_count(0)
        await expect(cempaka.locator(".stock-all-match")).to_have_text(
            "Semua hitungan cocok dengan jumlah seharusnya: "
            f"{counted[CP]} jenis logistik dihitung, tidak ada selisih. "
            f"{never[CP]} jenis belum pernah dihitung."
        )
        await expect(page.get_by_text("Belum ada data stok")).to_have_count(0)

        # One warehouse only, in English: the same, in its words.
        await page.locator("#lang-toggle").click()
        await expect(page.get_by_role("heading", name="Stock reconciliation")).to_be_visible()
        await page.get_by_label("Warehouse").select_option(CP)
        await expect(johar).to_have_count(0)
        await page.get_by_label("Show").select_option("bad")
        await expect(page.locator(f'section.panel[data-warehouse="{CP}"] .stock-all-match')).to_have_text(
            f"All counts match the expected quantities: {counted[CP]} item types counted, no differences. "
            f"{never[CP]} item types never counted."
        )
