"""The evidence states on the phone and the supervisor pages, in both languages: a co-inspector's
confirmation pending (and confirming from their own phone), a locked inspection or incident, a
conflict that needs a decision saying which value is in force, an answer the server would refuse,
and an unreviewed stock count that a later clean count does not hide."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.browser._supervisor_fixtures import supervisor_page
from tests.browser.conftest import Server
from tests.browser.helpers import WAREHOUSE, go, login, sync_state, wait_synced

pytestmark = pytest.mark.browser

WORDS = {
    "id": {"pending": "belum konfirmasi", "confirm": "Konfirmasi saya ikut memeriksa",
           "confirmed": "dikonfirmasi", "locked": "Terkunci", "in_force": "Nilai yang berlaku",
           "awaiting": "menunggu keputusan",
           "yours": "nilai Anda", "needs": "Menunggu keputusan", "invalid": "nomor segel berisi huruf"},
    "en": {"pending": "confirmation pending", "confirm": "Confirm I took part", "confirmed": "confirmed",
           "locked": "Locked", "in_force": "Value in force", "awaiting": "awaiting a supervisor",
           "yours": "your value", "needs": "Awaiting decision", "invalid": "a seal number has letters"},
}  # fmt: skip


def find(records: dict[str, dict[str, Any]], collection: str, **fields: Any) -> dict[str, Any]:
    return next(
        r
        for r in records.values()
        if r["collection"] == collection and all(r["fields"].get(k) == v for k, v in fields.items())
    )


async def english(page: Any) -> None:
    await page.get_by_role("button", name="EN").click()
    await expect(page.get_by_role("heading", name="My warehouses")).to_be_visible()


@pytest.mark.parametrize("language", ["id", "en"])
async def test_phone_shows_pending_confirmation_locked_and_needs_decision(
    open_app, server: Server, language: str
) -> None:
    words = WORDS[language]
    with server.api("siti") as api:
        records = api.pull_all()
    pending = find(records, "inspections", status="submitted")  # Dedi's, with Siti listed
    [siti_id] = pending["fields"]["co_inspectors"]
    reviewed = find(records, "inspections", status="reviewed")

    siti = await open_app(f"siti-{language}")
    await login(siti, "siti")
    page = siti.page
    if language == "en":
        await english(page)
    # Siti is listed on Dedi's inspection: her phone says it waits for her confirmation.
    await go(page, f"#/w/{WAREHOUSE}")
    await expect(page.locator(".rows .co-pending").first).to_contain_text(words["pending"])
    await go(page, f"#/w/{WAREHOUSE}/inspection/{pending['id']}")
    card = page.locator("#co-inspector-confirm")
    await expect(card).to_contain_text(words["pending"])
    # She confirms from her own phone: queued in the outbox like every edit, it reaches the server.
    await card.get_by_role("button", name=words["confirm"]).click()
    with server.api("rina") as api:
        for _ in range(300):
            if siti_id in (api.pull_all()[pending["id"]]["fields"].get("confirmations") or {}):
                break
            await page.wait_for_timeout(100)
        else:
            raise AssertionError("the confirmation never reached the server")
    for _ in range(300):
        if (await sync_state(page))["unanswered"] == 0:
            break
        await page.wait_for_timeout(100)
    await go(page, f"#/w/{WAREHOUSE}")
    await go(page, f"#/w/{WAREHOUSE}/inspection/{pending['id']}")
    await expect(page.locator("#co-inspector-confirm")).to_contain_text(words["confirmed"])
    await expect(page.locator("#confirm-part")).to_have_count(0)

    # A reviewed inspection says it is locked.
    await go(page, f"#/w/{WAREHOUSE}/inspection/{reviewed['id']}")
    await expect(page.locator("#inspection-readonly")).to_contain_text(words["locked"])
    await siti.screenshot(f"evidence-locked-{language}")


@pytest.mark.parametrize("language", ["id", "en"])
async def test_each_author_sees_which_description_is_in_force(
    open_app, server: Server, language: str
) -> None:
    words = WORDS[language]
    with server.api("slamet") as slamet_api:
        records = slamet_api.pull_all()
        incident = find(records, "incidents", status="acknowledged")
        base = incident["revision"]
        [first] = slamet_api.push(
            {"collection": "incidents", "op": "patch", "id": incident["id"], "base_rev": base,
             "fields": {"description": "ada bekas cungkil di kusen"}}
        )  # fmt: skip
    with server.api("joko") as joko_api:
        [second] = joko_api.push(
            {"collection": "incidents", "op": "patch", "id": incident["id"], "base_rev": base,
             "fields": {"description": "tidak ada tanda dicungkil"}}
        )  # fmt: skip
    assert (first["status"], second["status"]) == ("applied", "conflict")

    for name, mine_in_force in (("slamet", True), ("joko", False)):
        app = await open_app(f"{name}-{language}")
        await login(app, name)
        page = app.page
        if language == "en":
            await english(page)
        await go(page, f"#/w/{WAREHOUSE}/incident/{incident['id']}")
        conflict = page.locator(".conflict[data-field=description]")
        await expect(conflict.locator(".chip.status-open")).to_contain_text(words["needs"])
        in_force = conflict.locator(".in-force")
        await expect(in_force.locator(".value")).to_have_text("ada bekas cungkil di kusen")
        await expect(in_force.locator("dt")).to_contain_text(words["in_force"])
        await expect(conflict.locator(".not-in-force dt")).to_contain_text(words["awaiting"])
        mine = conflict.locator(".in-force" if mine_in_force else ".not-in-force")
        await expect(mine.locator(".chip-mine")).to_contain_text(words["yours"])
        await app.screenshot(f"evidence-conflict-{name}-{language}")


async def test_phone_refuses_a_seal_number_the_server_would_refuse(open_app, server: Server) -> None:
    app = await open_app("wahyu")
    await login(app, "wahyu")
    page = app.page
    with server.api("wahyu") as api:
        draft = find(api.pull_all(), "inspections", status="draft")
    await go(page, f"#/w/{WAREHOUSE}/inspection/{draft['id']}")
    item = page.locator(".item[data-code=nomor_segel_pintu]")
    seal = item.locator("input")
    await seal.fill("???")
    await expect(item.locator(".answer-error")).to_contain_text(WORDS["id"]["invalid"])
    await seal.fill("kpu-jb  004219")
    await expect(item.locator(".answer-error")).to_be_hidden()
    await seal.blur()
    await wait_synced(page)
    with server.api("rina") as api:
        assert api.pull_all()[draft["id"]]["fields"]["a.nomor_segel_pintu"] == "KPU-JB 004219"


@pytest.mark.parametrize("language", ["id", "en"])
async def test_supervisor_pages_show_confirmations_locks_and_open_counts(
    browser: Browser, server: Server, language: str
) -> None:
    words = WORDS[language]
    with server.api("rina") as api:
        records = api.pull_all()
    pending = next(
        r for r in records.values()
        if r["collection"] == "inspections" and r["fields"].get("status") == "submitted"
        and not r["fields"].get("confirmations")
    )  # fmt: skip
    reviewed = find(records, "inspections", status="reviewed")
    async with supervisor_page(browser, server, "hendra") as sup:
        page = sup.page
        if language == "en":
            await page.locator("#lang-toggle").click()
        await page.goto(f"{server.base_url}/supervisor/#/inspection/{pending['id']}")
        await expect(page.locator("#co-inspectors")).to_contain_text(words["pending"])
        await page.goto(f"{server.base_url}/supervisor/#/inspection/{reviewed['id']}")
        await expect(page.locator("#inspection-locked")).to_contain_text(words["locked"])
        await expect(page.locator("#co-inspectors")).to_contain_text(words["confirmed"])
        await expect(page.locator("#action-review")).to_have_count(0)
        # Agus's short count with damaged boxes waits for review (his count and his inspection's
        # answer), whatever was counted after it.
        await page.goto(f"{server.base_url}/supervisor/#/stock")
        row = page.locator(f'tr[data-item=kotak_suara][data-warehouse="{WAREHOUSE}"]')
        await expect(row.locator(".open-counts li")).to_have_count(2)
        await expect(row.locator(".open-counts")).to_contain_text("Agus Setiawan")
        await expect(row).to_have_class("is-discrepancy")
