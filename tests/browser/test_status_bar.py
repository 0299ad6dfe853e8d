"""The status bar never hides an unsent change: a drawing that read the outbox before the change
was queued must not land after one that read it since (a slow phone, many redraws in a row)."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import App, Server
from tests.browser.helpers import count_stock, login

STOCK_ITEM = "kotak_suara"

# Every status bar drawing asks navigator.storage.estimate() (is the phone full?) while it reads
# the outbox. The first one asked after this waits until the test opens the gate: it has read the
# outbox by then. Every pending count the bar shows is recorded, in order.
HOLD_NEXT_DRAWING = """() => {
  const estimate = navigator.storage.estimate.bind(navigator.storage);
  const gate = { held: false, opened: false, open: null, drawnSinceOpen: 0 };
  window.statusGate = gate;
  navigator.storage.estimate = () => {
    if (gate.held) return estimate();
    gate.held = true;
    return new Promise((resolve) => {
      gate.open = () => {
        gate.opened = true;
        resolve(estimate());
      };
    });
  };
  window.pendingShown = [];
  const bar = document.getElementById('status-bar');
  new MutationObserver(() => {
    const count = bar.querySelector('.status-pending')?.dataset.count;
    if (count === undefined) return;
    window.pendingShown.push(Number(count));
    if (gate.opened) gate.drawnSinceOpen += 1;
  }).observe(bar, { childList: true });
}"""


async def test_a_slow_drawing_from_before_an_edit_never_hides_it(open_app, server: Server) -> None:
    app: App = await open_app("slamet")
    await login(app, "slamet")
    page = app.page
    app.link.refuse()  # the count stays unsent

    await page.evaluate(HOLD_NEXT_DRAWING)
    await page.evaluate("dispatchEvent(new Event('online'))")  # the bar redraws (and sync tries)
    for _ in range(300):
        if await page.evaluate("window.statusGate.held"):
            break
        await page.wait_for_timeout(100)
    else:
        raise AssertionError("no status bar drawing started")

    # Counted while that drawing (which saw nothing waiting) is still under way.
    await count_stock(page, STOCK_ITEM, 40)
    await page.evaluate("window.statusGate.open()")
    pending = page.locator("#status-bar .status-pending")
    await expect(pending).to_have_attribute("data-count", "1")
    for _ in range(300):
        if await page.evaluate("window.statusGate.drawnSinceOpen") >= 1:
            break
        await page.wait_for_timeout(100)
    else:
        raise AssertionError("the held drawing never finished")
    await expect(pending).to_have_attribute("data-count", "1")

    # Once the bar counted the change, it never went back to "all sent".
    shown = await page.evaluate("window.pendingShown")
    assert 1 in shown, shown
    assert 0 not in shown[shown.index(1) :], shown
