"""The supervisor overview at national scale: a page of rows at a time, filtered by kota and
kecamatan on the server (8,000 warehouses are never loaded at once), and a live overview that
still refreshes under a continuous stream of events (its debounce has a maximum wait)."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.async_api import Browser, Request, expect

from tests.browser._supervisor_fixtures import Phone, supervisor_page
from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JB = "gd-johar-baru"
BOGOR = 60
"""Warehouses added in Kabupaten Bogor (the demo has 4 in Jakarta Pusat); a page holds 50."""


async def test_the_overview_pages_and_filters_by_kota_and_kecamatan_on_the_server(
    browser: Browser, server: Server
) -> None:
    with server.api("admin") as api:
        for n in range(BOGOR):
            answer = api.client.post(
                "/api/admin/warehouses",
                json={
                    "id": f"gd-bogor-{n:02d}",
                    "code": f"bgr_{n:02d}",
                    "name": f"Gudang Bogor {n:02d}",
                    "kecamatan": "Cibinong" if n % 3 else "Citeureup",
                    "kota": "Kabupaten Bogor",
                },
            )
            assert answer.status_code == 201, answer.text
    async with supervisor_page(browser, server, "admin") as sup:
        page = sup.page
        asked: list[dict[str, list[str]]] = []

        def record(request: Request) -> None:
            if urlparse(request.url).path == "/api/supervisor/overview":
                asked.append(parse_qs(urlparse(request.url).query))

        page.on("request", record)
        rows, pager = page.locator(".wh-row"), page.locator("#page-range")
        await page.reload()
        await expect(pager).to_have_text(f"1–50 dari {BOGOR + 4} gudang")
        await expect(rows).to_have_count(50)
        await expect(page.locator("#page-prev")).to_be_disabled()
        await expect(page.locator("#overview-summary")).to_contain_text(f"{BOGOR + 4} gudang")

        await page.locator("#page-next").click()
        await expect(pager).to_have_text(f"51–{BOGOR + 4} dari {BOGOR + 4} gudang")
        await expect(rows).to_have_count(BOGOR + 4 - 50)
        await expect(page.locator("#page-next")).to_be_disabled()

        # A kota: back to its first page, only its warehouses, its kecamatan to choose from.
        await page.locator("#filter-kota").select_option("Kabupaten Bogor")
        await expect(pager).to_have_text(f"1–50 dari {BOGOR} gudang")
        await expect(page.locator("#filter-kecamatan option")).to_have_text(
            ["Semua", "Cibinong", "Citeureup"]
        )
        await page.locator("#filter-kecamatan").select_option("Citeureup")
        await expect(pager).to_have_text(f"1–{BOGOR // 3} dari {BOGOR // 3} gudang")
        await expect(rows).to_have_count(BOGOR // 3)
        names = await rows.locator(".wh-name p").all_inner_texts()
        assert set(names) == {"Citeureup, Kabupaten Bogor"}

        await page.locator("#filter-kota").select_option("Jakarta Pusat")
        await expect(pager).to_have_text("1–4 dari 4 gudang")
        await expect(page.locator(f'.wh-row[data-warehouse="{JB}"]')).to_be_visible()
        await expect(page.locator("#filter-kecamatan")).to_have_value("")

        assert asked, "the page asked for the overview"
        assert all(q.get("limit") == ["50"] for q in asked), asked  # never every warehouse at once
        chosen = [(q.get("kota"), q.get("kecamatan")) for q in asked]
        assert (["Kabupaten Bogor"], ["Citeureup"]) in chosen, "the filters are the server's"


async def test_a_continuous_stream_of_live_events_still_refreshes_the_overview(
    browser: Browser, server: Server
) -> None:
    """Events arriving closer together than the debounce (200 ms apart on the page's clock) would
    postpone a plain trailing debounce for ever; the overview reloads at least every 3 s anyway."""
    async with supervisor_page(browser, server, "hendra", clock=True) as sup:
        page = sup.page
        main = page.locator("main")
        await expect(main).to_have_attribute("data-reloads", "1")
        # From here the page's timers run only when the test moves its clock.
        await page.clock.pause_at(await page.evaluate("Date.now()") + 1000)
        phone = Phone(server, "slamet")
        try:
            for n in range(1, 41):  # 8 s of the page's time, an event every 200 ms
                fields = {
                    "category": "segel_rusak",
                    "severity": "sedang",
                    "occurred_at": "2026-11-28T01:00:00Z",
                    "description": f"Segel rak {n} longgar",
                }
                incident = {
                    "id": str(uuid.uuid4()),
                    "collection": "incidents",
                    "op": "create",
                    "warehouse_id": JB,
                }
                results = phone.push({**incident, "fields": fields})
                assert results[0]["status"] == "applied", results
                await expect(main).to_have_attribute("data-live-events", str(n))
                await page.clock.run_for(200)
        finally:
            phone.close()
        # A reload every 3 s of a continuous stream: at least two more than the first load.
        reloads = int(await main.get_attribute("data-reloads") or 0)
        assert reloads >= 3, f"the overview reloaded {reloads - 1} times in 8 s of continuous events"
