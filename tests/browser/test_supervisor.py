"""The supervisor view against the real server: live overview, conflict decisions reaching a
phone, CSV exports matching the database, and a printable berita acara."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.browser._supervisor_fixtures import Phone, submit_inspection, supervisor_page
from tests.browser.conftest import Server, screenshot_path

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JB = "gd-johar-baru"


async def test_the_overview_updates_live_when_an_officer_submits_an_inspection_with_a_finding(
    browser: Browser, server: Server
) -> None:
    async with supervisor_page(browser, server, "hendra") as sup:
        page = sup.page
        await page.evaluate("window.__sameDocument = true")
        row = page.locator(f'.wh-row[data-warehouse="{JB}"]')
        # Agus's inspection two days ago was sent back for changes: its three findings stay open.
        await expect(row.locator('[data-field="findings"]')).to_have_attribute("data-count", "3")

        inspection, _ = submit_inspection(server, "slamet", JB, "siang", 7, segel_pintu_utuh="tidak")

        # No reload: the SSE feed wakes the page, which re-reads the overview.
        await expect(row.locator('[data-field="findings"]')).to_have_attribute(
            "data-count", "4", timeout=5000
        )
        await expect(row.locator('[data-field="findings"]')).to_contain_text("Segel pintu utuh")
        await expect(row.locator('[data-field="last-inspection"]')).to_contain_text("Slamet Riyadi")
        await expect(page.locator(".activity li[data-collection=inspections]").first).to_contain_text(
            "1 temuan"
        )
        assert await page.evaluate("window.__sameDocument === true")
        await page.screenshot(path=str(screenshot_path("overview.png")), full_page=True)

        # The new inspection opens for review; "perlu perbaikan" is a mutation the phone pulls.
        await row.locator('[data-field="last-inspection"] a').click()
        await expect(page.locator(".answer.is-finding[data-item=segel_pintu_utuh]")).to_be_visible()
        await expect(page.locator(".answer[data-item=foto_segel_pintu] img.thumb")).to_have_attribute(
            "src", __import__("re").compile("^blob:")
        )
        await page.locator("#action-request-changes").click()
        await page.get_by_label("Catatan").fill("Lampirkan foto segel yang baru.")
        await page.locator("dialog.form-dialog button[value=ok]").click()
        await expect(page.locator("#review-comment")).to_have_text("Lampirkan foto segel yang baru.")

    with server.api("slamet") as api:
        pulled = api.pull_all()[inspection]["fields"]
    assert pulled["status"] == "needs_fix"
    assert pulled["review_comment"] == "Lampirkan foto segel yang baru."


async def test_a_conflict_resolved_in_the_supervisor_view_reaches_the_officer_at_the_next_sync(
    browser: Browser, server: Server
) -> None:
    slamet, agus = Phone(server, "slamet"), Phone(server, "agus")
    try:
        incident = str(uuid.uuid4())
        created = slamet.push(
            {
                "id": incident,
                "collection": "incidents",
                "op": "create",
                "warehouse_id": JB,
                "fields": {
                    "category": "segel_rusak",
                    "severity": "sedang",
                    "title": "Segel pintu belakang sobek",
                    "description": "Segel pintu belakang sobek, terlihat saat patroli malam",
                },
            }
        )[0]
        base = created["revision"]
        # Both phones saw the same revision and change the severity offline, differently.
        assert (
            slamet.push(
                {
                    "id": incident,
                    "collection": "incidents",
                    "op": "patch",
                    "base_rev": base,
                    "fields": {"severity": "tinggi"},
                }
            )[0]["status"]
            == "applied"
        )
        clash = agus.push(
            {
                "id": incident,
                "collection": "incidents",
                "op": "patch",
                "base_rev": base,
                "fields": {"severity": "kritis"},
            }
        )[0]
        assert clash["status"] == "conflict"
        conflict_id = clash["conflicts"][0]

        async with supervisor_page(browser, server, "hendra") as sup:
            page = sup.page
            await page.locator("#nav").get_by_role("link", name="Konflik").click()
            card = page.locator(f'article.conflict[data-conflict="{conflict_id}"]')
            server_side, client_side = card.locator("[data-side=server]"), card.locator("[data-side=client]")
            await expect(server_side.locator(".value")).to_have_text("Tinggi")
            await expect(client_side.locator(".value")).to_have_text("Kritis")
            # The card names its record and links to it; before the decision the kept value is in force.
            link = card.locator("a.record-link")
            await expect(link).to_have_text("Kejadian: Segel pintu belakang sobek")
            assert await link.get_attribute("href") == f"#/incident/{incident}"
            await expect(server_side).to_have_attribute("data-state", "in_force")
            await expect(server_side).to_contain_text("berlaku sekarang")
            await expect(client_side).to_contain_text("menunggu keputusan — belum berlaku")
            await card.locator("button[data-pick=client]").click()
            await expect(card).to_have_count(0)  # gone from the open queue
            # Once decided, only the value decided on is in force; the other plainly is not used.
            await page.get_by_label("Status").select_option("resolved")
            await expect(server_side).to_have_attribute("data-state", "not_used")
            await expect(server_side).to_contain_text("tidak dipakai")
            await expect(server_side).not_to_contain_text("berlaku sekarang")
            await expect(client_side).to_have_attribute("data-state", "in_force")
            await expect(card.locator(".decision")).to_contain_text("yang berlaku Kritis")
            await link.click()
            await expect(page.locator(f'article.incident[data-incident="{incident}"]')).to_have_class(
                re.compile(r"\bis-focused\b")
            )

        records = slamet.pull()  # the officer's next sync
        assert records[incident]["fields"]["severity"] == "kritis"
        decided = records[conflict_id]["fields"]
        assert decided["status"] == "resolved" and decided["resolution"] == "kritis"
    finally:
        slamet.close()
        agus.close()


def _db_rows(server: Server, collection: str) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(server.database) as db:
        rows = db.execute(
            "SELECT id, fields, revision, created_at FROM records WHERE collection = ? AND deleted = 0",
            (collection,),
        ).fetchall()
    return {r[0]: {"fields": json.loads(r[1]), "revision": r[2], "created_at": r[3]} for r in rows}


def _csv(text: str) -> list[dict[str, str]]:
    assert text.startswith("id,") or text.startswith("inspection_id,")
    return list(csv.DictReader(io.StringIO(text, newline="")))


async def test_csv_exports_of_the_seeded_data_parse_and_match_the_database(
    browser: Browser, server: Server
) -> None:
    async with supervisor_page(browser, server, "rina") as sup:  # rina sees all four warehouses
        page = sup.page
        await page.locator("#nav").get_by_role("link", name="Grafik & ekspor").click()
        async with page.expect_download() as info:
            await page.locator("button[data-export=inspections]").click()
        download = await info.value
        from_ui = (await download.path()).read_bytes()
        token = await page.evaluate("JSON.parse(localStorage.getItem('tigapilar.supervisor.session')).token")

    client = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    with client:
        exports = {
            name: client.get(f"/api/exports/{name}.csv", params={"form": "raw"})
            for name in ("inspections", "answers", "incidents", "stock_counts")
        }
        for_people = client.get("/api/exports/inspections.csv")
    for response in exports.values():
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert len(response.headers["x-audit-head"]) == 64
        assert "\r\n" in response.text
    # The button downloads the form for people, decoded here as Excel with Indonesian regional
    # settings reads it: a byte-order mark for UTF-8, ';' between cells, WIB times, labels not codes.
    assert from_ui == for_people.content and from_ui.startswith(b"\xef\xbb\xbf")
    people = list(csv.DictReader(io.StringIO(from_ui.decode("utf-8-sig"), newline=""), delimiter=";"))
    raw = _csv(exports["inspections"].text)
    assert len(people) == len(raw) > 0
    for person, machine in zip(people, raw, strict=True):  # the same rows in the same order
        assert set(person) >= {"Nomor berita acara", "Gudang", "Status", "Shift", "Waktu mulai (WIB)"}
        assert person["Nomor berita acara"] == machine["report_number"]
        assert person["Status"] in {"Draf", "Menunggu diperiksa", "Sudah diperiksa", "Perlu perbaikan"}
        assert person["Shift"] in {"Pagi", "Siang", "Malam"}
        assert not any(re.fullmatch(r"[a-z]+(_[a-z]+)+", v) for v in person.values()), person
        utc = datetime.fromisoformat(machine["started_at"].replace("Z", "+00:00"))
        assert person["Waktu mulai (WIB)"] == (utc + timedelta(hours=7)).strftime("%Y-%m-%d %H:%M")

    inspections = _db_rows(server, "inspections")
    rows = _csv(exports["inspections"].text)
    assert {r["id"] for r in rows} == set(inspections)
    for r in rows:
        record = inspections[r["id"]]
        assert r["status"] == record["fields"]["status"]
        assert r["inspector_id"] == record["fields"]["inspector_id"]
        assert int(r["findings_count"]) == len(record["fields"].get("findings", []))
        assert int(r["revision"]) == record["revision"]

    answers = _csv(exports["answers"].text)
    for a in answers:
        value = inspections[a["inspection_id"]]["fields"][
            f"{'p' if a['kind'] == 'photo' else 'a'}.{a['item_code']}"
        ]
        expected = "; ".join(value) if isinstance(value, list) else str(value)
        assert a["value"] == expected, a
    assert len(answers) == sum(1 for r in inspections.values() for k in r["fields"] if k[:2] in ("a.", "p."))

    incidents = _db_rows(server, "incidents")
    rows = _csv(exports["incidents"].text)
    assert {r["id"] for r in rows} == set(incidents)
    for r in rows:
        fields = incidents[r["id"]]["fields"]
        assert (r["category"], r["severity"], r["status"], r["description"]) == (
            fields["category"],
            fields["severity"],
            fields["status"],
            fields["description"],
        )

    counts = _db_rows(server, "stock_counts")
    rows = _csv(exports["stock_counts"].text)
    assert {r["id"] for r in rows} == set(counts)
    for r in rows:
        fields = counts[r["id"]]["fields"]
        assert int(r["counted"]) == fields["counted"] and int(r["expected"]) == fields["expected"]
        assert int(r["difference"]) == fields["counted"] - fields["expected"]


async def test_the_berita_acara_prints_with_photos_signatures_and_no_console_errors(
    browser: Browser, server: Server
) -> None:
    async with supervisor_page(browser, server, "hendra") as sup:
        page = sup.page
        token = await page.evaluate("JSON.parse(localStorage.getItem('tigapilar.supervisor.session')).token")
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}) as client:
            reviewed = client.get(
                "/api/supervisor/inspections", params={"status": "reviewed", "warehouse_id": JB}
            ).json()
        inspection = reviewed[-1]["id"]  # the first, clean inspection of the demo story
        await page.goto(f"{server.base_url}/supervisor/#/print/{inspection}")
        await expect(page.locator("main[data-ready=true]")).to_be_attached(timeout=10_000)
        sheet = page.locator("#berita-acara")
        await expect(
            sheet.get_by_role("heading", name="BERITA ACARA PEMERIKSAAN GUDANG LOGISTIK PEMILU")
        ).to_be_visible()
        await expect(sheet.locator(".signatures .sign")).to_have_count(4)
        await expect(sheet.locator(".sign[data-pillar=polri] .sign-name").first).to_have_text(
            "Aipda Slamet Riyadi"
        )
        await expect(sheet.locator(".sign[data-pillar=kpu] .sign-name")).to_have_text("Yuliani Pratiwi")
        # Joko (TNI) signs because he confirmed taking part from his own phone.
        await expect(sheet.locator(".sign[data-pillar=tni] .sign-confirmation")).to_contain_text(
            "dikonfirmasi"
        )
        thumbs = sheet.locator(".photo-grid img.thumb")
        assert await thumbs.count() >= 2
        for i in range(await thumbs.count()):
            assert (await thumbs.nth(i).get_attribute("src") or "").startswith("blob:")
            assert await thumbs.nth(i).evaluate("img => img.naturalWidth > 0")

        await page.emulate_media(media="print")
        await expect(page.locator(".topbar")).to_be_hidden()
        await expect(page.locator(".print-toolbar")).to_be_hidden()
        await page.screenshot(path=str(screenshot_path("print.png")), full_page=True)
        pdf = await page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
        assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
