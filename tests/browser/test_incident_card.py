"""The incident details card at 360 px: each value keeps to its own line or two (issue 17: the date
broke over 3 lines and the name over 4, squeezed beside its label). Measured in the rendered page:
a value's line count is its height over its line height."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import App
from tests.browser.helpers import WAREHOUSE, go, login

INCIDENT = "Dua kamera CCTV mati"
"""A demo incident of Johar Baru acknowledged by the KPU's officer (server/seed/demo.py)."""

FACTS = """() => [...document.querySelectorAll('.incident .meta-card .facts dd')].map((dd) => {
  const dt = dd.previousElementSibling;
  const box = dd.getBoundingClientRect();
  const label = dt.getBoundingClientRect();
  const lineHeight = parseFloat(getComputedStyle(dd).lineHeight);
  return {
    label: dt.textContent, value: dd.textContent, lines: Math.round(box.height / lineHeight),
    below: box.top >= label.bottom - 1, left: box.left, labelLeft: label.left, right: box.right,
  };
})"""


async def test_incident_details_read_at_360_px(open_app) -> None:
    app: App = await open_app("incident-card")
    await login(app, "slamet")
    page = app.page
    await go(page, f"#/w/{WAREHOUSE}")
    await page.get_by_role("link", name=INCIDENT).first.click()
    await expect(page.locator(".incident h1")).to_have_text(INCIDENT)
    facts = {f["label"]: f for f in await page.evaluate(FACTS)}
    width = await page.evaluate("() => document.documentElement.clientWidth")
    assert width == 360

    occurred = facts["Waktu kejadian"]
    assert occurred["lines"] == 1, occurred
    reporter = facts["Pelapor"]
    assert reporter["lines"] == 1, reporter
    acknowledged = facts["Waktu diterima"]
    assert acknowledged["lines"] <= 2, acknowledged
    for fact in facts.values():
        # On a narrow screen the label sits above its value, which has the card's whole width.
        assert fact["below"] and abs(fact["left"] - fact["labelLeft"]) < 1, fact
        assert fact["right"] <= width, fact
