"""The supervisor's stock and chart pages say what the data says, in words (issue 17): a filter
with nothing to show is not "no data", and charts carry their figures, axes and names."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from playwright.async_api import Browser, expect

from server.seed import load_templates
from tests.browser._supervisor_fixtures import submit_inspection, supervisor_page
from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JB = "gd-johar-baru"
CP = "gd-cempaka-putih"
WIB = timezone(timedelta(hours=7))


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


def _findings_per_section(server: Server, warehouse: str, since: str, lang: str) -> dict[str, int]:
    """The test's own fold of the database: every finding of the warehouse's submitted inspections
    per checklist section title, by the sections of the checklist each inspection was made on."""
    templates = {t.id: t for t in load_templates()}
    newest = {}
    for t in sorted(templates.values(), key=lambda t: t.version):
        for s in t.sections:
            newest[s.code] = s.title
    with sqlite3.connect(server.database) as db:
        rows = db.execute(
            "SELECT fields FROM records"
            " WHERE collection = 'inspections' AND warehouse_id = ? AND deleted = 0",
            (warehouse,),
        ).fetchall()
    counts: dict[str, int] = {}
    for (raw,) in rows:
        fields = json.loads(raw)
        if fields.get("status") not in ("submitted", "needs_fix", "reviewed"):
            continue
        submitted = datetime.fromisoformat(fields["submitted_at"].replace("Z", "+00:00"))
        if submitted.astimezone(WIB).date().isoformat() < since:
            continue
        template = templates[fields["template_id"]]
        for code in fields.get("findings") or []:
            section = next(s for s in template.sections if any(i.code == code for i in s.items))
            title = newest[section.code]
            label = title if isinstance(title, str) else title[lang]
            counts[label] = counts.get(label, 0) + 1
    return counts


async def test_the_findings_chart_shows_the_real_findings_with_values_a_scale_and_names_in_words(
    browser: Browser, server: Server
) -> None:
    async with supervisor_page(browser, server, "hendra") as sup:
        page = sup.page
        await page.goto(f"{server.base_url}/supervisor/#/charts")
        await page.get_by_label("Gudang").select_option(JB)
        since = await page.locator("#chart-from").input_value()
        expected = _findings_per_section(server, JB, since, "id")
        assert expected, "the demo has findings in Johar Baru"
        figure = page.locator("figure.chart-figure", has_text="Temuan per bagian daftar periksa")

        async def bars_are(counts: dict[str, int], name: str) -> None:
            bars = figure.locator("svg rect.bar")
            await expect(bars).to_have_count(len(counts))
            shown = {
                await bar.get_attribute("data-label"): int(await bar.get_attribute("data-value") or -1)
                for bar in await bars.all()
            }
            assert shown == counts
            # Each bar's value is written beside it, over a scale that starts at 0.
            values = [await v.text_content() for v in await figure.locator("svg text.value").all()]
            assert sorted(int(v or -1) for v in values) == sorted(counts.values())
            ticks = [await v.text_content() for v in await figure.locator("svg text.tick").all()]
            assert ticks[0] == "0" and int(ticks[-1] or 0) >= max(counts.values())
            # Its name is a sentence with the figures, in the order of the bars.
            await expect(figure.get_by_role("img")).to_have_accessible_name(name)

        # The chart is drawn again for Johar Baru: read the order of its bars once it shows them.
        await page.wait_for_function(
            """(labels) => {
              const figure = [...document.querySelectorAll('figure.chart-figure')]
                .find((f) => f.textContent.includes('Temuan per bagian daftar periksa'));
              const shown = [...(figure?.querySelectorAll('svg rect.bar') ?? [])].map((b) => b.dataset.label);
              return shown.length === labels.length && labels.every((l) => shown.includes(l));
            }""",
            arg=sorted(expected),
        )
        order = [await b.get_attribute("data-label") for b in await figure.locator("svg rect.bar").all()]
        await bars_are(
            expected,
            "Temuan per bagian daftar periksa: " + ", ".join(f"{label} {expected[label]}" for label in order),
        )
        # The figures as a table, beside the chart.
        await figure.locator("details.chart-table summary").click()
        table = figure.locator("details.chart-table table")
        await expect(table.locator("thead th")).to_have_text(["Bagian daftar periksa", "Temuan"])
        await expect(table.locator("tbody tr")).to_have_count(len(expected))
        for label in order:
            await expect(table.locator("tbody tr", has_text=str(label))).to_contain_text(str(expected[label]))

        # An officer sends an inspection with a broken door seal: its section's bar grows, live.
        _, template = submit_inspection(server, "slamet", JB, "pagi", 3, segel_pintu_utuh="tidak")
        section = next(
            s for s in template["sections"] if any(i["code"] == "segel_pintu_utuh" for i in s["items"])
        )
        grown = _findings_per_section(server, JB, since, "id")
        assert grown[section["title"]["id"]] == expected.get(section["title"]["id"], 0) + 1
        await expect(
            figure.locator(f'svg rect.bar[data-label="{section["title"]["id"]}"]')
        ).to_have_attribute("data-value", str(grown[section["title"]["id"]]))

        # Every chart's name is words and figures, never element names; in English too, where the
        # page shows every warehouse of Hendra's again.
        for language in ("id", "en"):
            if language == "en":
                await page.locator("#lang-toggle").click()
                await expect(page.get_by_role("heading", name="Charts")).to_be_visible()
            images = page.locator("figure.chart-figure svg[role=img]")
            await expect(images).to_have_count(3)
            for image in await images.all():
                name = await image.get_attribute("aria-label") or ""
                assert re.fullmatch(r"[\w &/,.:()–-]+", name) and "object" not in name, name
                await expect(image).to_have_accessible_name(name)
        english: dict[str, int] = {}
        for warehouse in (JB, CP):
            for label, n in _findings_per_section(server, warehouse, since, "en").items():
                english[label] = english.get(label, 0) + n
        figure = page.locator("figure.chart-figure", has_text="Findings by checklist section")
        await expect(figure.locator("svg rect.bar")).to_have_count(len(english))
        order = [await b.get_attribute("data-label") for b in await figure.locator("svg rect.bar").all()]
        await bars_are(
            english,
            "Findings by checklist section: " + ", ".join(f"{label} {english[label]}" for label in order),
        )
