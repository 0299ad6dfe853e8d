"""The guard post on the officers' phones: a check-in made without signal reaches the server once,
with the moment it was made and its photo; a handover written and confirmed by the outgoing and
the incoming commander on two phones reconciles into one record, locked once both confirmed.

A supervisor plans the shifts of these tests through the API, on a day of their own (20 days
ahead, which the demo week never plans) with hours around now, so they hold at any time of day.
The network is cut for real (tests/browser/link.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import expect

from tests.browser.conftest import App, Server, screenshot_path
from tests.browser.helpers import (
    go,
    local_photo_hashes,
    login,
    photo_payload,
    sync_now,
    wait_synced,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CP = "gd-cempaka-putih"
DOOR_SEAL = "nomor_segel_pintu"
WIB = timedelta(hours=7)


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def plan(
    server: Server, period: str, start: timedelta, hours: int, people: dict[str, str], commander: str
) -> str:
    """A supervisor plans a shift of Cempaka Putih starting `start` from now; its id."""
    now = datetime.now(UTC)
    day = ((now + WIB).date() + timedelta(days=20)).isoformat()
    rid = f"sh.{CP}.{day}.{period}"
    with server.api("hendra") as api:
        ids = {p["username"]: p["id"] for p in api.get("/api/supervisor/people").json()}
        personnel: dict[str, list[str]] = {}
        for username, agency in people.items():
            personnel.setdefault(agency, []).append(ids[username])
        [result] = api.push(
            {
                "id": rid,
                "collection": "shifts",
                "op": "create",
                "warehouse_id": CP,
                "fields": {
                    "date": day,
                    "period": period,
                    "starts_at": _instant(now + start),
                    "ends_at": _instant(now + start + timedelta(hours=hours)),
                    "personnel": personnel,
                    "commander": ids[commander],
                },
            }
        )
    assert result["status"] == "applied", result
    return rid


def server_record(server: Server, rid: str) -> dict:
    with server.api("hendra") as api:
        return api.pull_all()[rid]


async def test_an_offline_check_in_reaches_the_server_once_with_its_time_and_photo(
    open_app, server: Server
) -> None:
    shift = plan(server, "siang", timedelta(minutes=-5), 4, {"fajar": "POLRI", "bambang": "TNI"}, "fajar")
    later = plan(server, "malam", timedelta(hours=5), 4, {"bambang": "TNI"}, "bambang")
    app: App = await open_app("bambang")
    await login(app, "bambang")
    page = app.page
    # A shift hours away is shown, its check-in not offered yet (the server would flag it).
    later_card = page.locator(f'.shift-card[data-shift="{later}"]')
    await expect(later_card.locator("[data-opens]")).to_contain_text("Masuk jaga dapat dicatat mulai")
    await expect(later_card.get_by_role("button", name="Masuk jaga")).to_have_count(0)
    card = page.locator(f'.shift-card[data-shift="{shift}"]')
    await expect(card).to_be_visible()
    await expect(card.locator("[data-attendance]")).to_have_text("Belum masuk")

    app.link.refuse()
    await page.reload()
    await expect(page.locator("#status-bar .status-net")).to_have_text("Tidak ada koneksi")
    await card.locator("input[type=file]").set_input_files(photo_payload(7))
    await expect(card.locator(".thumbs img[src^='blob:']")).to_have_count(1)
    [photo] = await local_photo_hashes(page)
    await card.get_by_role("button", name="Masuk jaga").click()
    await expect(card.locator('[data-attendance="in"]')).to_contain_text("Masuk")
    await expect(card.locator('[data-sync="pending"]')).to_be_visible()
    await expect(page.locator("#status-bar .status-pending")).to_have_attribute("data-count", "1")
    await app.screenshot("guard-check-in-offline")
    # Nothing reached the server while the link is down.
    assert not server_record(server, shift)["fields"]["attendance"]
    cut_off_until = datetime.now(UTC)

    # The tab is killed and opened again: the queued check-in is still there and still one.
    page = await app.reopen()
    await page.goto(f"{app.base_url}/")
    card = page.locator(f'.shift-card[data-shift="{shift}"]')
    await expect(card.locator('[data-attendance="in"]')).to_be_visible()
    await expect(page.locator("#status-bar .status-pending")).to_have_attribute("data-count", "1")

    app.link.restore()
    await wait_synced(page)
    await expect(card.locator('[data-sync="on-server"]')).to_be_visible()
    record = server_record(server, shift)
    with server.api("bambang") as api:
        me = api.get("/api/me").json()["user"]["id"]
    assert list(record["fields"]["attendance"]) == [me]
    entry = record["fields"]["attendance"][me]
    # The moment of the tap, made offline, not the moment it arrived.
    assert datetime.fromisoformat(entry["at"]) < cut_off_until, entry
    assert entry["photos"] == [photo] and entry["agency"] == "TNI" and entry["flag"] == ""
    revision = record["revision"]

    # Syncing again sends nothing more: the server's record stays as it was.
    await sync_now(page)
    assert server_record(server, shift)["revision"] == revision
    await go(page, "#/")
    await expect(card.get_by_role("button", name="Selesai jaga")).to_be_visible()
    await card.get_by_role("button", name="Selesai jaga").click()
    await wait_synced(page)
    out = server_record(server, shift)["fields"]["attendance"][me]
    assert out["at"] == entry["at"] and out["out_at"] >= entry["at"]
    await expect(card.locator('[data-attendance="out"]')).to_be_visible()

    # The same card in English, at 360 px, with nothing wider than the screen.
    await page.get_by_role("button", name="Ganti bahasa ke English").click()
    await expect(page.get_by_role("heading", name="On guard today")).to_be_visible()
    await expect(card.locator('[data-attendance="out"]')).to_contain_text("In ")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360


async def test_a_handover_written_and_confirmed_on_two_phones_reconciles_and_locks(
    open_app, server: Server
) -> None:
    outgoing = plan(server, "siang", timedelta(hours=-2), 3, {"fajar": "POLRI", "bambang": "TNI"}, "fajar")
    incoming = plan(server, "malam", timedelta(hours=1), 4, {"gilang": "POLRI", "teguh": "TNI"}, "teguh")
    handover = "ho." + outgoing.removeprefix("sh.")
    incident = "0190c0de-0000-7000-8000-00000000c0de"
    with server.api("fajar") as api:
        last = api.pull_all()[f"seals.{CP}"]["fields"]["numbers"][DOOR_SEAL]["number"]
        # An open incident of the warehouse, to be handed over and acknowledged.
        [reported] = api.push(
            {
                "id": incident,
                "collection": "incidents",
                "op": "create",
                "warehouse_id": CP,
                "fields": {
                    "category": "cctv_mati",
                    "severity": "sedang",
                    "description": "CCTV lorong belakang mati sejak sore",
                    "title": "CCTV lorong belakang mati",
                    "occurred_at": _instant(datetime.now(UTC) - timedelta(hours=1)),
                },
            }
        )
    assert reported["status"] == "applied", reported

    fajar: App = await open_app("fajar")
    teguh: App = await open_app("teguh")
    await login(fajar, "fajar")
    await login(teguh, "teguh")

    # The outgoing commander, without signal, writes the handover and confirms his side.
    fajar.link.refuse()
    page = fajar.page
    await page.reload()
    card = page.locator(f'.shift-card[data-shift="{outgoing}"]')
    await card.get_by_role("link", name="Serah terima ke shift berikut").click()
    await expect(page.get_by_role("heading", name="Serah terima jaga")).to_be_visible()
    seal = page.locator(f'input[name="s.{DOOR_SEAL}"]')
    await expect(page.locator(".handover")).to_contain_text(f"Nomor terakhir tercatat: {last}")
    await seal.fill(last[:-1] + ("9" if last[-1] != "9" else "8"))
    await expect(page.locator(f'.answer-error[data-seal="{DOOR_SEAL}"]')).to_be_visible()  # the phone warns
    await seal.fill(last)
    await expect(page.locator(f'.answer-error[data-seal="{DOOR_SEAL}"]')).to_be_hidden()
    await page.get_by_label("Kunci yang diserahkan").fill("Gembok pintu utama (2), pintu belakang (1)")
    await expect(
        page.locator("#handover-incidents").get_by_label("CCTV lorong belakang mati")
    ).to_be_checked()
    await page.get_by_role("button", name="Simpan serah terima").click()
    await expect(page.locator('.handover [data-sync="pending"]')).to_be_visible()
    await page.get_by_label("Catatan baru").fill("Lampu gudang sisi timur diganti siang ini.")
    await page.get_by_role("button", name="Tambah catatan").click()
    await page.get_by_role("button", name="Konfirmasi: saya menyerahkan").click()
    await expect(page.locator('[data-side="outgoing"]')).to_have_attribute("data-confirmed", "true")
    await expect(page.locator("#handover-state")).to_have_attribute("data-state", "half")
    # Confirmed: it no longer changes, on the phone too.
    await expect(seal).to_be_disabled()
    with server.api("hendra") as api:
        assert handover not in api.pull_all()

    # The incoming commander cannot confirm what has not reached him yet.
    tpage = teguh.page
    await tpage.goto(f"{teguh.base_url}/#/w/{CP}/handover/{outgoing}")
    await expect(tpage.locator("#handover-state")).to_have_attribute("data-state", "missing")

    # Signal again: the outgoing phone sends everything, once.
    fajar.link.restore()
    await wait_synced(page)
    record = server_record(server, handover)
    assert record["fields"]["status"] == "open" and record["fields"]["incoming_shift"] == incoming
    assert set(record["fields"]["confirmations"]) == {"outgoing"}
    assert record["fields"][f"s.{DOOR_SEAL}"] == last and record["fields"]["findings"] == []
    assert record["fields"]["incidents"] == [incident]
    assert [n["text"] for n in record["fields"]["notes"]] == ["Lampu gudang sisi timur diganti siang ini."]

    # The incoming phone pulls it, acknowledges the incident handed over, and confirms.
    await sync_now(tpage)
    await go(tpage, f"#/w/{CP}/handover/{outgoing}")
    await expect(tpage.locator("#handover-state")).to_have_attribute("data-state", "half")
    confirm = tpage.get_by_role("button", name="Konfirmasi: saya menerima")
    await expect(confirm).to_be_disabled()
    await tpage.get_by_label("Diterima: CCTV lorong belakang mati").check()
    await expect(confirm).to_be_enabled()
    await confirm.click()
    await expect(tpage.locator("#handover-state")).to_have_attribute("data-state", "confirmed")
    await wait_synced(tpage)
    await tpage.screenshot(path=str(screenshot_path("guard-handover.png")), full_page=True)
    assert await tpage.evaluate("document.documentElement.scrollWidth") <= 360

    record = server_record(server, handover)
    assert record["fields"]["status"] == "confirmed"
    sides = record["fields"]["confirmations"]
    assert sides["incoming"]["acknowledged"] == [incident]
    assert sides["outgoing"]["client_id"] != sides["incoming"]["client_id"]
    # Locked: the outgoing phone sees it, and the server refuses a change.
    await sync_now(page)
    await go(page, f"#/w/{CP}/handover/{outgoing}")
    await expect(page.locator("#handover-locked")).to_be_visible()
    await expect(page.get_by_role("button", name="Simpan serah terima")).to_have_count(0)
    with server.api("fajar") as api:
        [refused] = api.push(
            {"id": handover, "collection": "handovers", "op": "patch", "fields": {"keys": "x"}}
        )
    assert (refused["status"], refused["code"]) == ("rejected", "handover_locked")


async def test_a_refused_handover_change_is_told_on_the_handover_in_the_pages_language(
    open_app, server: Server
) -> None:
    """The outgoing commander edits the handover without signal; meanwhile the incoming commander
    confirms it, so it no longer changes. When the edit arrives the server refuses it
    (handover_confirmed): the handover page says so there, in words, in Indonesian and English,
    never the server's own sentence."""
    outgoing = plan(server, "siang", timedelta(hours=-2), 3, {"fajar": "POLRI", "bambang": "TNI"}, "fajar")
    plan(server, "malam", timedelta(hours=1), 4, {"gilang": "POLRI", "teguh": "TNI"}, "teguh")
    handover = "ho." + outgoing.removeprefix("sh.")
    with server.api("fajar") as api:
        [created] = api.push(
            {
                "id": handover,
                "collection": "handovers",
                "op": "create",
                "warehouse_id": CP,
                "fields": {"outgoing_shift": outgoing, "keys": "Gembok pintu utama (2)"},
            }
        )
    assert created["status"] == "applied", created

    fajar: App = await open_app("fajar")
    await login(fajar, "fajar")
    page = fajar.page
    fajar.link.refuse()
    await page.reload()
    await go(page, f"#/w/{CP}/handover/{outgoing}")
    await expect(page.get_by_label("Kunci yang diserahkan")).to_have_value("Gembok pintu utama (2)")
    await page.get_by_label("Kunci yang diserahkan").fill("Gembok pintu utama (2), pintu belakang (1)")
    await page.get_by_role("button", name="Simpan serah terima").click()
    await expect(page.locator('.handover [data-sync="pending"]')).to_be_visible()
    await expect(page.locator(".refused-changes")).to_have_count(0)

    with server.api("teguh") as api:
        revision = api.pull_all()[handover]["revision"]
        [confirmed] = api.push(
            {
                "id": handover,
                "collection": "handovers",
                "op": "confirm",
                "warehouse_id": CP,
                "base_rev": revision,
                "fields": {"side": "incoming", "acknowledged": []},
            }
        )
    assert confirmed["status"] == "applied", confirmed

    fajar.link.restore()
    await wait_synced(page)
    await page.reload()
    refused = page.locator(".handover .refused-changes")
    reason = refused.locator(".rejected-reason")
    await expect(reason).to_have_attribute("data-code", "handover_confirmed")
    await expect(reason).to_contain_text("Perubahan ini ditolak server (mengubah")
    await expect(reason).to_contain_text(
        "Serah terima ini sudah dikonfirmasi seorang Danru: tidak berubah lagi"
    )
    assert "it no longer changes" not in await refused.inner_text()  # not the server's sentence
    to_sync = refused.get_by_role("link", name="Lihat semua yang ditolak")
    await expect(to_sync).to_have_attribute("href", "#/sync")
    # What the server holds stays as confirmed.
    assert server_record(server, handover)["fields"]["keys"] == "Gembok pintu utama (2)"

    await page.get_by_role("button", name="Ganti bahasa ke English").click()
    await expect(reason).to_contain_text("This change was refused by the server (edited")
    await expect(reason).to_contain_text("A commander has confirmed this handover: it no longer changes")
