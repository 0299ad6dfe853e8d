"""The inspection form on a 360 × 740 phone: a section list that says, per section, how much is
answered, what is still required and how many findings, and jumps there; an overall progress
that follows the answers; and sticky chrome slim enough to leave the form the screen (issue 17:
the form's sticky bars took 120 of 740 px)."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from tests.browser.conftest import App, Server
from tests.browser.helpers import answer_item, login, start_inspection, wait_saved

STICKY_BUDGET = 64
"""Pixels of a 740 px screen the form's sticky chrome may cover (the issue allows 15 %, 111 px)."""

STICKY_CHROME = """() => {
  const parts = [];
  for (const el of document.querySelectorAll('body *')) {
    const position = getComputedStyle(el).position;
    if (position !== 'sticky' && position !== 'fixed') continue;
    const box = el.getBoundingClientRect();
    const covered = Math.max(0, Math.min(box.bottom, innerHeight) - Math.max(box.top, 0));
    if (covered > 0 && box.width > 0) parts.push({ what: el.id || el.className, px: covered });
  }
  return parts;
}"""


async def sticky_chrome(page: Page) -> list[dict[str, Any]]:
    return await page.evaluate(STICKY_CHROME)


async def in_view(page: Page, selector: str) -> dict[str, float]:
    """Where the element is on the screen, and the top of the sticky bar at the foot."""
    return await page.evaluate(
        """(selector) => {
          const box = document.querySelector(selector).getBoundingClientRect();
          const bar = document.querySelector('.form-bar').getBoundingClientRect();
          return { top: box.top, bottom: box.bottom, barTop: bar.top, height: innerHeight };
        }""",
        selector,
    )


async def test_section_list_jumps_and_progress_follows_the_answers(open_app, server: Server) -> None:
    with server.api("slamet") as api:
        template = api.get("/api/templates/current").json()
    sections = template["sections"]
    total = sum(len(s["items"]) for s in sections)
    app: App = await open_app("form")
    await login(app, "slamet")
    page = app.page
    await start_inspection(page)

    progress = page.locator("#form-progress")
    await expect(progress).to_have_attribute("data-total", str(total))
    answered = int(await progress.get_attribute("data-answered") or "-1")
    await expect(progress).to_contain_text(f"{answered}/{total} terjawab")

    # Mid-form, the sticky chrome is the form's bar alone, within budget.
    await page.locator(f"#section-{sections[3]['code']}").scroll_into_view_if_needed()
    await page.mouse.wheel(0, 400)
    chrome = await sticky_chrome(page)
    assert sum(p["px"] for p in chrome) <= STICKY_BUDGET, chrome
    assert [p["what"] for p in chrome] == ["form-bar"], chrome

    # The list says what each section holds, and the counts follow the answers.
    first = sections[0]
    entry = page.locator(f"#section-list li:has(.section-jump[data-section='{first['code']}'])")
    await page.get_by_role("button", name="Bagian", exact=True).click()
    dialog = page.locator("#section-list")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator(".section-jump")).to_have_count(len(sections) + 1)
    required = sum(1 for item in first["items"] if item.get("required"))
    await expect(entry).to_contain_text(f"0/{len(first['items'])} terjawab")
    await expect(entry).to_contain_text(f"{required} wajib belum diisi")
    # A section with nothing required says nothing about required answers.
    optional = next(s for s in sections if not any(item.get("required") for item in s["items"]))
    optional_entry = dialog.locator(f".section-jump[data-section='{optional['code']}']")
    await expect(optional_entry).to_contain_text(f"0/{len(optional['items'])} terjawab")
    await expect(optional_entry.locator(".chip:visible")).to_have_count(0)
    await dialog.get_by_role("button", name="Tutup").click()
    await expect(dialog).to_be_hidden()

    finding_item = next(item for item in first["items"] if item["kind"] == "yes_no")
    for item in first["items"]:
        await answer_item(page, item, finding=item is finding_item)
    await wait_saved(page)
    answered += len(first["items"])
    await expect(progress).to_have_attribute("data-answered", str(answered))
    await expect(progress).to_contain_text(f"{answered}/{total} terjawab · 1 temuan")
    heading = page.locator(f"#section-{first['code']} h2 .heading-count")
    await expect(heading).to_have_text(f"{len(first['items'])}/{len(first['items'])}")

    await page.get_by_role("button", name="Bagian", exact=True).click()
    await expect(entry).to_contain_text(f"{len(first['items'])}/{len(first['items'])} terjawab")
    await expect(entry).to_contain_text("Wajib lengkap")
    await expect(entry).to_contain_text("1 temuan")
    await expect(entry).to_have_attribute("data-findings", "1")

    # A tap on a section far down jumps there: its heading at the top of the screen, focused.
    target = sections[4]
    await dialog.locator(f".section-jump[data-section='{target['code']}']").click()
    await expect(dialog).to_be_hidden()
    target_heading = page.locator(f"#section-{target['code']} h2")
    await expect(target_heading).to_be_focused()
    box = await in_view(page, f"#section-{target['code']} h2")
    assert 0 <= box["top"] < 40 and box["bottom"] < box["barTop"], box

    # "Next" goes to the first required item still open below: the first required item of the
    # section just jumped to, in view and above the bar.
    next_open = next(item for item in target["items"] if item.get("required"))
    await page.locator("#next-required").click()
    box = await in_view(page, f"#item-{next_open['code']}")
    assert 0 <= box["top"] < box["barTop"], box
    focused = await page.evaluate("() => document.activeElement.closest('.item')?.id")
    assert focused == f"item-{next_open['code']}"

    # Answering it moves the counts of that section and the whole form.
    await answer_item(page, next_open)
    await wait_saved(page)
    await expect(progress).to_have_attribute("data-answered", str(answered + 1))
    await expect(page.locator(f"#section-{target['code']} h2 .heading-count")).to_have_text(
        f"1/{len(target['items'])}"
    )

    # In English the bar and the list speak English.
    await page.locator("#lang-toggle").click()
    await expect(progress).to_contain_text(f"{answered + 1}/{total} answered")
    await page.get_by_role("button", name="Sections", exact=True).click()
    await expect(entry).to_contain_text("Required complete")
