"""The guard post on the supervisor's screen, from the demo week the officers' phones entered:
the roster shows per agency who was present, late or absent, and the printable buku mutasi of a
day shows who was there and what was handed over, confirmed by both commanders."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from tests.browser._supervisor_fixtures import supervisor_page
from tests.browser.conftest import Server, screenshot_path

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JB = "gd-johar-baru"
WIB = timedelta(hours=7)


def _demo_week(server: Server) -> tuple[dict[str, str], dict[str, dict]]:
    """Demo usernames by user id, and Johar Baru's shifts and handovers by id."""
    with server.api("hendra") as api:
        people = {p["id"]: p["username"] for p in api.get("/api/supervisor/people").json()}
        records = {
            rid: r
            for rid, r in api.pull_all().items()
            if r["warehouse_id"] == JB and r["collection"] in ("shifts", "handovers")
        }
    return people, records


async def test_the_roster_shows_present_late_and_absent_per_agency(browser: Browser, server: Server) -> None:
    people, records = _demo_week(server)
    by_name = {name: uid for uid, name in people.items()}
    now = datetime.now(UTC)
    # The demo's absence: wahyu (TNI) planned for a malam shift he never checked in to.
    [absent] = [
        r
        for r in records.values()
        if r["collection"] == "shifts"
        and by_name["wahyu"] in r["fields"]["personnel"].get("TNI", [])
        and by_name["wahyu"] not in r["fields"]["attendance"]
        and datetime.fromisoformat(r["fields"]["starts_at"]) < now - timedelta(minutes=20)
    ]
    # The demo's late arrival: dedi (Satpol PP) into a pagi shift.
    [late] = [
        r
        for r in records.values()
        if r["collection"] == "shifts"
        and r["fields"]["attendance"].get(by_name["dedi"], {}).get("flag") == "late"
    ]
    async with supervisor_page(browser, server, "hendra") as sup:
        page = sup.page
        await page.get_by_role("link", name="Jadwal jaga", exact=True).click()
        await expect(page.get_by_role("heading", name="Jadwal jaga")).to_be_visible()
        await page.goto(f"{server.base_url}/supervisor/#/roster/{JB}/{absent['fields']['date']}")
        cell = page.locator(f'[data-shift="{absent["id"]}"]')
        wahyu = cell.locator(f'[data-person="{by_name["wahyu"]}"]')
        await expect(wahyu).to_have_attribute("data-state", "absent")
        await expect(wahyu).to_contain_text("Tidak hadir")
        await expect(cell.locator('[data-agency="TNI"]')).to_have_text("TNI 0/1")
        await expect(cell.locator('[data-agency="TNI"]')).to_have_class("chip chip-bad")
        await expect(cell.locator('[data-agency="POLRI"]')).to_have_text("Polri 1/1")
        await expect(cell.locator('[data-field="missing-pillars"]')).to_contain_text("TNI")
        await expect(cell).to_have_class("shift is-understaffed")
        for uid in absent["fields"]["attendance"]:
            await expect(cell.locator(f'[data-person="{uid}"]')).to_have_attribute("data-state", "present")

        await page.goto(f"{server.base_url}/supervisor/#/roster/{JB}/{late['fields']['date']}")
        late_cell = page.locator(f'[data-shift="{late["id"]}"]')
        dedi = late_cell.locator(f'[data-person="{by_name["dedi"]}"]')
        await expect(dedi).to_have_attribute("data-state", "late")
        await expect(late_cell.locator('[data-agency="SATPOL_PP"]')).to_have_text("Satpol PP 1/1")
        await page.screenshot(path=str(screenshot_path("supervisor-roster.png")), full_page=True)

        # The CSV of the week, as the page downloads it.
        async with page.expect_download() as download_info:
            await page.locator("#roster-csv").click()
        download = await download_info.value
        text = (await download.path()).read_text(encoding="utf-8-sig")
        assert download.suggested_filename.endswith(".csv")
        # The late arrival's week: dedi's row says so in words, with the local time and zone.
        [row] = [line for line in text.splitlines() if ";Terlambat;" in line]
        assert row.startswith(f"Gudang Logistik KPU Kecamatan Johar Baru;{late['fields']['date']};Pagi;"), row
        assert "WIB" in row, row


async def test_the_buku_mutasi_prints_a_day_of_the_guard_post(browser: Browser, server: Server) -> None:
    _, records = _demo_week(server)
    # The demo's seal mismatch: a handover reading a door seal other than the last recorded one.
    [mismatch] = [r for r in records.values() if r["collection"] == "handovers" and r["fields"]["findings"]]
    shift = records["sh." + mismatch["id"].removeprefix("ho.")]
    day = shift["fields"]["date"]
    [code] = mismatch["fields"]["findings"]
    async with supervisor_page(browser, server, "hendra") as sup:
        page = sup.page
        await page.goto(f"{server.base_url}/supervisor/#/roster/{JB}/{day}")
        await page.locator(f'th[data-day="{day}"]').get_by_role("link", name="Buku mutasi").click()
        await expect(page.get_by_role("heading", name="Buku Mutasi Jaga")).to_be_visible()
        section = page.locator(f'.mutasi [data-shift="{shift["id"]}"]')
        seal = section.locator(f'[data-seal="{code}"]')
        await expect(seal).to_have_class("is-finding")
        await expect(seal).to_contain_text(mismatch["fields"][f"s.{code}"])
        # The seal is named by its checklist item's words, its number shown as typed.
        with server.api("hendra") as api:
            template = api.get("/api/templates/current").json()
        [label] = [i["label"] for s in template["sections"] for i in s["items"] if i["code"] == code]
        await expect(seal.locator("th")).to_have_text(label["id"])
        number = mismatch["fields"][f"s.{code}"]
        await expect(seal.locator("td")).to_have_text(re.compile("^" + re.escape(number) + " — "))
        assert "_" not in await page.locator(".mutasi").inner_text()
        await expect(section.locator('[data-side="outgoing"]')).to_have_attribute("data-confirmed", "true")
        await expect(section.locator('[data-side="incoming"]')).to_have_attribute("data-confirmed", "true")
        await expect(section).to_contain_text("Nomor segel pintu berbeda dari catatan terakhir")
        for uid in shift["fields"]["attendance"]:
            row = section.locator(f'[data-person="{uid}"]')
            await expect(row).not_to_have_attribute("data-state", "absent")
            checked_in = datetime.fromisoformat(shift["fields"]["attendance"][uid]["at"])
            local_in = (checked_in + WIB).strftime("%H:%M")
            await expect(row).to_contain_text(local_in)
        # Every shift of the day is on the page, and nothing but the sheet prints.
        day_shifts = [
            r for r in records.values() if r["collection"] == "shifts" and r["fields"]["date"] == day
        ]
        await expect(page.locator(".mutasi [data-shift]")).to_have_count(len(day_shifts))
        await page.emulate_media(media="print")
        await expect(page.locator("header, nav").first).to_be_hidden()
        await page.pdf(path=str(screenshot_path("buku-mutasi.pdf")))


async def test_a_supervisor_copies_last_weeks_plan_in_one_action(browser: Browser, server: Server) -> None:
    with server.api("hendra") as api:
        this_week = api.get(f"/api/supervisor/roster?warehouse_id={JB}").json()
    planned = {s["id"] for d in this_week["days"] for s in d["shifts"] if s}
    assert planned, "the demo plans this week"
    monday = datetime.fromisoformat(this_week["week"]).date()
    next_monday = (monday + timedelta(days=7)).isoformat()
    async with supervisor_page(browser, server, "hendra") as sup:
        page = sup.page
        await page.goto(f"{server.base_url}/supervisor/#/roster/{JB}")
        await expect(page.locator("[data-shift]")).to_have_count(len(planned))
        await page.get_by_role("link", name="Minggu depan").click()
        await expect(page).to_have_url(f"{server.base_url}/supervisor/#/roster/{JB}/{next_monday}")
        await expect(page.locator("td[data-day]").first).to_be_visible()
        await expect(page.locator("[data-shift]")).to_have_count(0)
        await page.get_by_role("button", name="Salin jadwal minggu lalu").click()
        await expect(page.locator("[data-shift]")).to_have_count(len(planned))
        # Copying again plans nothing twice.
        await page.get_by_role("button", name="Salin jadwal minggu lalu").click()
        await expect(page.locator(".toast").last).to_be_visible()
        await expect(page.locator("[data-shift]")).to_have_count(len(planned))
    with server.api("hendra") as api:
        copied = api.get(f"/api/supervisor/roster?warehouse_id={JB}&week={next_monday}").json()
    shifts = [s for d in copied["days"] for s in d["shifts"] if s]
    assert len(shifts) == len(planned)
    before = {s["id"]: s for d in this_week["days"] for s in d["shifts"] if s}
    for shift in shifts:
        day = (datetime.fromisoformat(shift["date"]).date() - timedelta(days=7)).isoformat()
        source = before[f"sh.{JB}.{day}.{shift['period']}"]
        assert shift["commander"] == source["commander"]
        assert {p["user_id"] for p in shift["people"]} == {
            p["user_id"] for p in source["people"] if p["planned"]
        }
        assert all(p["state"] == "expected" for p in shift["people"])


async def test_a_supervisor_plans_a_shift_in_the_roster_page(browser: Browser, server: Server) -> None:
    people, _ = _demo_week(server)
    by_name = {name: uid for uid, name in people.items()}
    with server.api("hendra") as api:
        monday = api.get(f"/api/supervisor/roster?warehouse_id={JB}").json()["week"]
    day = (datetime.fromisoformat(monday).date() + timedelta(days=14)).isoformat()
    async with supervisor_page(browser, server, "hendra") as sup:
        page = sup.page
        await page.goto(f"{server.base_url}/supervisor/#/roster/{JB}/{day}")
        await page.locator(f'td[data-day="{day}"][data-period="siang"]').get_by_role("button").click()
        dialog = page.locator("dialog")
        await expect(dialog.get_by_label("Mulai")).to_have_value("15:00")
        await dialog.locator(f'input[value="{by_name["agus"]}"]').check()
        await dialog.locator(f'input[value="{by_name["wahyu"]}"]').check()
        await dialog.get_by_label("Danru").select_option(by_name["agus"])
        await dialog.get_by_role("button", name="Simpan").click()
        cell = page.locator(f'[data-shift="sh.{JB}.{day}.siang"]')
        await expect(cell.locator('[data-agency="POLRI"]')).to_have_text("Polri 0/1")
        await expect(cell.locator(f'[data-person="{by_name["wahyu"]}"]')).to_have_attribute(
            "data-state", "expected"
        )
        # Nobody of the local government is planned: the page says which pillar is missing.
        await expect(cell.locator('[data-field="missing-pillars"]')).to_have_text("Pilar tidak ada: Pemda")
    with server.api("hendra") as api:
        shift = api.pull_all()[f"sh.{JB}.{day}.siang"]
    assert shift["fields"]["personnel"] == {"POLRI": [by_name["agus"]], "TNI": [by_name["wahyu"]]}
    assert shift["fields"]["commander"] == by_name["agus"]
    assert shift["fields"]["starts_at"].startswith(f"{day}T08:00")  # 15:00 WIB
