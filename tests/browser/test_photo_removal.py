"""Taking back a mistaken photo: "Hapus" on a thumbnail, confirmed, works offline and survives a
reload; the queued patch carries the list without it (the `union` policy replaces the list when
nobody else changed it since the phone's base revision). When another officer changed the photos
concurrently, the server takes the union: the added photo stays and the removed one comes back,
and the phone then shows exactly what the server has; removing it again works."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.conftest import Server
from tests.browser.helpers import (
    WAREHOUSE,
    go,
    local_photo_hashes,
    local_record,
    login,
    photo_payload,
    report_incident,
    start_inspection,
    sync_now,
    wait_saved,
    wait_synced,
)

THUMBS = ".photo-picker .thumbs li"


async def shown_photos(page: Page, count: int) -> list[str]:
    """The photo hashes the picker shows, once it shows `count` of them."""
    items = page.locator(THUMBS)
    await expect(items).to_have_count(count)
    return [await items.nth(i).get_attribute("data-sha") or "" for i in range(count)]


async def add_photo(page: Page, seed: int, *, then: int) -> None:
    await page.locator(".photo-picker input[type=file]").set_input_files(photo_payload(seed))
    await expect(page.locator(THUMBS)).to_have_count(then)


async def remove_photo(page: Page, sha: str, *, confirm: bool = True) -> None:
    """Tap "Hapus" under the photo, then answer the confirmation."""
    await (
        page.locator(f"{THUMBS}[data-sha='{sha}']")
        .get_by_role("button", name=re.compile(r"^Hapus foto"))
        .click()
    )
    dialog = page.get_by_role("dialog", name="Hapus foto ini?")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Ya, hapus" if confirm else "Batal").click()
    await expect(dialog).to_have_count(0)


def server_incident(server: Server, incident_id: str) -> tuple[dict, list[dict]]:
    """The incident as the server holds it, and the conflict records about it."""
    with server.api("rina") as api:
        records = api.pull_all()
    conflicts = [
        r
        for r in records.values()
        if r["collection"] == "conflicts" and r["fields"].get("record_id") == incident_id
    ]
    return records[incident_id], conflicts


def server_photos(server: Server, incident_id: str) -> list[str]:
    return server_incident(server, incident_id)[0]["fields"]["photos"]


async def test_photo_removed_offline_survives_reload_and_reaches_other_phones(
    open_app, server: Server
) -> None:
    slamet, joko = await open_app("slamet"), await open_app("joko")
    await login(slamet, "slamet")
    page = slamet.page
    incident_id = await report_incident(page, description="Segel rak 3 putus", photo_seed=31)
    await add_photo(page, 32, then=2)
    await wait_synced(page)
    first, second = server_photos(server, incident_id)
    assert await shown_photos(page, 2) == [first, second]

    await login(joko, "joko")
    incident_url = f"#/w/{WAREHOUSE}/incident/{incident_id}"
    await go(joko.page, incident_url)
    assert await shown_photos(joko.page, 2) == [first, second]

    # Offline, Slamet changes his mind twice: cancelling keeps the photo, confirming removes it.
    slamet.link.refuse()
    await remove_photo(page, first, confirm=False)
    assert await shown_photos(page, 2) == [first, second]
    await page.locator(f"{THUMBS}[data-sha='{first}'] .thumb-remove").click()
    await slamet.screenshot("photo-remove-confirm")
    await page.get_by_role("dialog").get_by_role("button", name="Ya, hapus").click()
    assert await shown_photos(page, 1) == [second]
    await expect(page.locator("#status-bar .status-pending")).to_have_attribute("data-count", "1")
    # The record as last pulled still holds the photo, so its blob stays on the phone.
    assert first in await local_photo_hashes(page)

    # The removal is stored on the phone: it survives a reload without signal.
    await page.reload()
    await expect(page.locator(".incident h1")).to_be_visible()
    assert await shown_photos(page, 1) == [second]
    await expect(page.locator(".meta-card .chip-pending")).to_be_visible()
    assert server_photos(server, incident_id) == [first, second]  # nothing sent yet

    slamet.link.restore()
    await wait_synced(page)
    incident, conflicts = server_incident(server, incident_id)
    assert incident["fields"]["photos"] == [second]
    assert conflicts == []
    await expect(page.locator(".meta-card .chip-pending")).to_have_count(0)
    assert await shown_photos(page, 1) == [second]

    # Another phone pulling sees it removed too.
    await sync_now(joko.page)
    await go(joko.page, incident_url)
    assert await shown_photos(joko.page, 1) == [second]


async def test_concurrent_add_wins_over_an_offline_removal(open_app, server: Server) -> None:
    """Slamet removes photo A offline while Joko adds photo C: the server keeps the union, so C
    stays and A comes back (a concurrent removal does not win; nothing is lost and no conflict is
    opened). After the pull, Slamet's phone shows the server's list, and removing A again, now
    that his phone has seen Joko's edit, takes effect everywhere."""
    slamet, joko = await open_app("slamet"), await open_app("joko")
    await login(slamet, "slamet")
    page = slamet.page
    incident_id = await report_incident(page, description="Atap bocor di atas rak 5", photo_seed=41)
    await add_photo(page, 42, then=2)
    await wait_synced(page)
    a, b = server_photos(server, incident_id)

    await login(joko, "joko")
    incident_url = f"#/w/{WAREHOUSE}/incident/{incident_id}"
    await go(joko.page, incident_url)
    assert await shown_photos(joko.page, 2) == [a, b]

    slamet.link.refuse()
    await remove_photo(page, a)
    assert await shown_photos(page, 1) == [b]

    # Meanwhile Joko's phone, online, adds photo C.
    await add_photo(joko.page, 43, then=3)
    await wait_synced(joko.page)
    _, _, c = server_photos(server, incident_id)
    assert server_photos(server, incident_id) == [a, b, c]

    # Slamet's removal reaches the server after Joko's edit it had not seen: union, A is back.
    slamet.link.restore()
    await wait_synced(page)
    incident, conflicts = server_incident(server, incident_id)
    assert incident["fields"]["photos"] == [a, b, c]
    assert conflicts == []
    # The phone does not pretend otherwise: it shows the server's list, nothing pending.
    await expect(page.locator(".meta-card .chip-pending")).to_have_count(0)
    assert await shown_photos(page, 3) == [a, b, c]
    await slamet.screenshot("photo-removal-merged")

    # Removing A again: the phone's base now covers the merged list, so the removal applies.
    await remove_photo(page, a)
    await wait_synced(page)
    assert server_photos(server, incident_id) == [b, c]
    await sync_now(joko.page)
    await go(joko.page, incident_url)
    assert await shown_photos(joko.page, 2) == [b, c]


async def test_photo_removed_from_a_draft_report_is_dropped_from_the_phone(open_app, server: Server) -> None:
    """A photo no record, queued change or draft refers to any more is deleted from the phone."""
    app = await open_app("slamet")
    await login(app, "slamet")
    page = app.page
    await go(page, f"#/w/{WAREHOUSE}/incident/new")
    await add_photo(page, 51, then=1)
    await add_photo(page, 52, then=2)
    wrong, right = await shown_photos(page, 2)
    await remove_photo(page, wrong)
    assert await shown_photos(page, 1) == [right]
    local = await local_photo_hashes(page)
    assert wrong not in local and right in local

    await page.get_by_label("Kategori").select_option("kebocoran_banjir")
    await page.locator("fieldset.choice label", has_text="Rendah").click()
    await page.get_by_label("Uraian kejadian").fill("Rembesan air di dinding utara")
    await page.get_by_role("button", name="Laporkan").click()
    await page.wait_for_url("**/incident/0*")
    incident_id = page.url.rsplit("/", 1)[-1]
    await wait_synced(page)
    assert server_photos(server, incident_id) == [right]


async def test_inspection_draft_photo_and_co_inspector_removed_offline(open_app, server: Server) -> None:
    """On an inspection still in draft: a general photo and a co-inspector picked by mistake are
    taken back offline. A submitted inspection shows its photos without any "Hapus"."""
    app = await open_app("slamet")
    await login(app, "slamet")
    page = app.page
    inspection_id = await start_inspection(page)
    general = page.locator(".photo-picker", has_text="Foto umum")
    joko = page.get_by_role("checkbox", name=re.compile("Joko"))
    await joko.check()
    await general.locator("input[type=file]").set_input_files(photo_payload(61))
    await expect(general.locator(".thumbs li")).to_have_count(1)
    await wait_saved(page)
    await wait_synced(page)
    with server.api("rina") as api:
        fields = api.pull_all()[inspection_id]["fields"]
    [photo] = fields["photos"]
    assert len(fields["co_inspectors"]) == 1

    app.link.refuse()
    await remove_photo(page, photo)
    await expect(general.locator(".thumbs li")).to_have_count(0)
    await joko.uncheck()
    await wait_saved(page)
    await page.reload()
    await expect(page.locator(".inspection.editable")).to_be_visible()
    await expect(general.locator(".thumbs li")).to_have_count(0)
    await expect(joko).not_to_be_checked()

    app.link.restore()
    await wait_synced(page)
    with server.api("rina") as api:
        records = api.pull_all()
    assert records[inspection_id]["fields"]["photos"] == []
    assert records[inspection_id]["fields"]["co_inspectors"] == []

    # A submitted inspection (the demo's from yesterday) is read-only: photos, no remove buttons.
    submitted = next(
        r
        for r in records.values()
        if r["collection"] == "inspections"
        and r["warehouse_id"] == WAREHOUSE
        and r["fields"]["status"] == "submitted"
        and any(v for k, v in r["fields"].items() if k.startswith("p."))
    )
    await go(page, f"#/w/{WAREHOUSE}/inspection/{submitted['id']}")
    await expect(page.locator(".inspection.readonly")).to_be_visible()
    await expect(page.locator(THUMBS).first).to_be_visible()
    await expect(page.locator(".thumb-remove")).to_have_count(0)


async def test_a_photo_added_from_a_screen_older_than_the_replica_keeps_the_newer_photos(
    open_app, server: Server
) -> None:
    """The inspection screen is not redrawn when a pull lands (a form the officer is filling in).
    Joko adds photo C to the inspection; Slamet's phone pulls it while his screen still shows only
    A; Slamet then adds D from that screen. The patch says which revision the screen showed, so the
    server merges the two lists: C is kept. (Claiming the replica's newest revision instead made
    the server take [A, D] as the whole list and C was gone, with no conflict to show it.)"""
    slamet, joko = await open_app("slamet"), await open_app("joko")
    await login(slamet, "slamet")
    page = slamet.page
    inspection_id = await start_inspection(page)
    general = page.locator(".photo-picker", has_text="Foto umum")
    await page.get_by_role("checkbox", name=re.compile("Joko")).check()
    await general.locator("input[type=file]").set_input_files(photo_payload(71))
    await expect(general.locator(".thumbs li")).to_have_count(1)
    await wait_saved(page)
    await wait_synced(page)

    await login(joko, "joko")
    await go(joko.page, f"#/w/{WAREHOUSE}/inspection/{inspection_id}")
    joko_general = joko.page.locator(".photo-picker", has_text="Foto umum")
    await joko_general.locator("input[type=file]").set_input_files(photo_payload(72))
    await expect(joko_general.locator(".thumbs li")).to_have_count(2)
    await wait_saved(joko.page)
    await wait_synced(joko.page)
    with server.api("rina") as api:
        a, c = api.pull_all()[inspection_id]["fields"]["photos"]

    # Slamet's phone comes back online (the browser says so) and pulls Joko's photo; his screen
    # is not redrawn.
    await page.evaluate("dispatchEvent(new Event('online'))")
    for _ in range(100):
        held = await local_record(page, inspection_id)
        if held and c in held["fields"].get("photos", []):
            break
        await page.wait_for_timeout(100)
    else:
        raise AssertionError("Slamet's phone did not pull Joko's photo")
    await expect(general.locator(".thumbs li")).to_have_count(1)

    await general.locator("input[type=file]").set_input_files(photo_payload(73))
    await expect(general.locator(".thumbs li")).to_have_count(2)
    await wait_saved(page)
    await wait_synced(page)
    with server.api("rina") as api:
        photos = api.pull_all()[inspection_id]["fields"]["photos"]
    assert a in photos and c in photos and len(photos) == 3, photos
