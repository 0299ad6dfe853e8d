"""8. The phone on a bad link: how fast it tells the truth, what a drop costs, a 2G inspection.

Headless Debian Chromium (Playwright) against a real `tigapilar serve` with the demo data, the page
and its service worker reaching the server through the loopback forwarder of the browser tests
(tests/browser/link.py), which refuses connections, black-holes them ("lie-fi": accepted, never
answered), shapes them (2G: 400 ms each way, so an 800 ms round trip, 25 kB/s down, 6 kB/s up) or
drops them after N bytes up. `navigator.onLine` says online throughout, as on a real phone.

- Reachability → status bar: time from the change to the status bar saying so, polled every 50 ms.
  "cut" and "lie-fi" start with an edit saved just after the link breaks (the app sends 1.5 s after
  the last edit, so that wait is in the lie-fi figure; a refused connection shows on the first
  request the app makes, whatever it is for); "back" starts with an edit waiting on a dead link
  and ends when the bar says "Daring" again, with nothing announced by the browser.
- Silent mid-photo: over 2G, the link black-holed 0.3 s after a photo range starts; time until
  the status bar says the server does not answer.
- Drop mid-photo: two photos of an incident over 2G, the connection cut 85 % into the first. Bytes
  the phone sent beyond the photos' own bytes, with and without the drop: the difference is what
  the drop cost. A restart from zero would have sent the 85 % again.
- 2G inspection: the demo template filled offline (4 photo items and a general photo), submitted,
  then the 2G link: time until the server has everything (outbox empty, status bar "Semua
  terkirim"); and the same with the signal lost for 15 s a quarter of the way in.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from typing import Any

from bench.context import Context
from bench.env import fmt_bytes, fmt_ms, median
from bench.report import Section
from bench.server import Server

TWO_G = {"latency_ms": 400, "down_bps": 25_000, "up_bps": 6_000}
NET = "#status-bar .status-net"


async def _phone(browser: Any, server: Server, name: str) -> Any:
    from tests.browser.conftest import App
    from tests.browser.link import Link

    context = await browser.new_context(
        viewport={"width": 360, "height": 740}, locale="id-ID", timezone_id="Asia/Jakarta"
    )
    link = Link(server.port)
    page = await context.new_page()
    return App(name=name, context=context, page=page, link=link, base_url=link.url)


async def _until_text(page: Any, selector: str, text: str, timeout_s: float = 60) -> float:
    """Seconds until the element's text is `text` (polled every 50 ms)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        shown = await page.locator(selector).all_inner_texts()
        if shown and shown[0].strip() == text:
            return time.perf_counter() - t0
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{selector} never said {text!r}")


async def _edit(page: Any, counted: int) -> None:
    """An edit saved on the phone (a stock count), timed from the save."""
    from tests.browser.helpers import WAREHOUSE, go

    await go(page, f"#/w/{WAREHOUSE}/stock")
    row = page.locator("fieldset.stock-row[data-item='kotak_suara']")
    await row.get_by_label("Dihitung").fill(str(counted))
    await page.get_by_role("button", name="Simpan hitungan").click()
    await page.wait_for_url(f"**/#/w/{WAREHOUSE}")


async def reachability(browser: Any, server: Server, rounds: int) -> dict[str, list[float]]:
    from tests.browser.helpers import login, wait_synced

    app = await _phone(browser, server, "reach")
    times: dict[str, list[float]] = {"cut": [], "lie-fi": [], "back": []}
    try:
        await login(app, "slamet")
        page = app.page
        for i in range(rounds):
            for kind, expected in (("cut", "Tidak ada koneksi"), ("lie-fi", "Server tidak menjawab")):
                app.link.refuse() if kind == "cut" else app.link.black_hole()
                await _edit(page, 30 + i)
                t0 = time.perf_counter()
                await _until_text(page, NET, expected)
                times[kind].append(time.perf_counter() - t0)
                await asyncio.sleep(6)  # the app settles into its probe schedule
                app.link.restore()
                t1 = time.perf_counter()
                await _until_text(page, NET, "Daring")
                times["back"].append(time.perf_counter() - t1)
                await wait_synced(page, timeout=60_000)
    finally:
        await app.context.close()
        app.link.close()
    return times


PROGRESS_TIMES = """() => {
  // When the bar's photo progress changed, as it is drawn (ms since the page's start).
  window.__progressAt = [];
  const bar = document.getElementById('status-bar');
  let last = null;
  new MutationObserver(() => {
    const text = bar.querySelector('.status-syncing')?.textContent ?? null;
    if (text && text !== last && / foto · /.test(text)) window.__progressAt.push(performance.now());
    last = text;
  }).observe(bar, { childList: true, subtree: true, characterData: true });
}"""


async def silent_mid_photo(browser: Any, server: Server, rounds: int) -> list[float]:
    """Seconds from the link going silent 0.3 s into a photo range until the bar says the server
    does not answer (the range gives no sign of life until its answer)."""
    from tests.browser.helpers import login, wait_synced
    from tests.browser.test_slow_link import report_with_photos

    app = await _phone(browser, server, "silent")
    times = []
    try:
        await login(app, "slamet")
        page = app.page
        ranges: list[str] = []
        page.on("request", lambda r: ranges.append(r.url) if r.method == "PUT" else None)
        for i in range(rounds):
            app.link.refuse()
            await report_with_photos(page, [71 + i])
            app.link.shape(**TWO_G)
            ranges.clear()
            app.link.restore()
            while not ranges:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            app.link.black_hole()
            times.append(await _until_text(page, NET, "Server tidak menjawab"))
            app.link.restore()
            await wait_synced(page, timeout=300_000)
            app.link.shape()
        return times
    finally:
        await app.context.close()
        app.link.close()


async def drop_cost(browser: Any, server: Server, drop: bool) -> tuple[int, int, int, float, float]:
    """(bytes up beyond the photos, first photo's size, all photos' size, seconds to synced, the
    longest wait in seconds between two changes of the bar's photo progress)."""
    from tests.browser.helpers import login, sync_state, wait_synced
    from tests.browser.test_slow_link import PHONE_PHOTOS, report_with_photos

    app = await _phone(browser, server, "drop")
    try:
        await login(app, "slamet")
        page = app.page
        app.link.refuse()
        await report_with_photos(page, [41, 42] if drop else [43, 44])
        photos = await page.evaluate(PHONE_PHOTOS)
        first, total = photos[0][1], sum(size for _, size in photos)
        app.link.shape(**TWO_G)
        if drop:
            app.link.drop_after(up_bytes=int(first * 0.85))
        before = app.link.up.bytes
        await page.evaluate(PROGRESS_TIMES)
        t0 = time.perf_counter()
        app.link.restore()
        await wait_synced(page, timeout=300_000)
        while (await sync_state(page))["unanswered"]:
            await asyncio.sleep(0.1)
        took = time.perf_counter() - t0
        changes = await page.evaluate("window.__progressAt")
        gap = max((b - a for a, b in itertools.pairwise(changes)), default=0) / 1000
        return app.link.up.bytes - before - total, first, total, took, gap
    finally:
        await app.context.close()
        app.link.close()


async def inspection_over_2g(browser: Any, server: Server, loss_s: float) -> tuple[float, int, int]:
    """(seconds until everything is on the server, photo bytes, bytes sent up)."""
    import httpx

    from tests.browser.conftest import PASSWORD
    from tests.browser.helpers import (
        fill_inspection,
        login,
        photo_payload,
        start_inspection,
        submit_inspection,
        wait_saved,
        wait_synced,
    )

    with httpx.Client(base_url=server.url, timeout=30) as client:
        token = client.post(
            "/api/auth/login",
            json={
                "username": "slamet",
                "password": PASSWORD,
                "device_name": "bench",
                "client_id": "bench-2g-tpl",
            },
        ).json()["token"]
        template = client.get("/api/templates/current", headers={"Authorization": f"Bearer {token}"}).json()
    app = await _phone(browser, server, "2g")
    try:
        await login(app, "slamet")
        page = app.page
        app.link.refuse()
        await start_inspection(page)
        await fill_inspection(page, template)
        general = page.locator(".photo-picker", has_text="Foto umum")
        await general.locator("input[type=file]").set_input_files(photo_payload(77))
        await general.locator(".thumbs img[src^='blob:']").first.wait_for()
        await wait_saved(page)
        await submit_inspection(page)
        photos = await page.evaluate(
            """async () => {
              const { loadSession } = await import('/js/session.js');
              const { openUserDb } = await import('/js/db.js');
              const db = await openUserDb((await loadSession()).userId);
              const all = await db.getAll('photos');
              db.close();
              return all.filter((p) => !p.uploaded).map((p) => p.size);
            }"""
        )
        app.link.shape(**TWO_G)
        before = app.link.up.bytes
        t0 = time.perf_counter()
        app.link.restore()
        if loss_s:
            # Lose the signal a quarter of the way in (by bytes), for loss_s seconds.
            while app.link.up.bytes - before < sum(photos) / 4:
                if time.perf_counter() - t0 > 300:
                    raise RuntimeError("the upload never got a quarter of the way")
                await asyncio.sleep(0.1)
            app.link.refuse()
            await asyncio.sleep(loss_s)
            app.link.restore()
        await wait_synced(page, timeout=900_000)
        return time.perf_counter() - t0, sum(photos), app.link.up.bytes - before
    finally:
        await app.context.close()
        app.link.close()


async def run(ctx: Context) -> Section:
    from playwright.async_api import async_playwright

    from bench.pwa import CHROMIUM, CHROMIUM_ARGS, seed_demo

    section = Section("link", "8. The phone on a bad link", ["measure", "value", "note"])
    work = ctx.dir("link")
    db = work / "link.db"
    seed_demo(db)
    rounds = ctx.size(3, 1)

    def fresh(name: str) -> Server:
        """A server on its own copy of the seeded database: the inspection's photos (the same
        bytes each run) are new to it."""
        directory = work / name
        directory.mkdir()
        shutil.copy(db, directory / "link.db")
        return Server(directory / "link.db", log=directory / "server.log")

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            with fresh("reach") as server:
                times = await reachability(browser, server, rounds)
                silent = await silent_mid_photo(browser, server, rounds)
                with_drop = await drop_cost(browser, server, drop=True)
                without = await drop_cost(browser, server, drop=False)
            with fresh("inspection") as server:
                inspection = await inspection_over_2g(browser, server, loss_s=0)
            lossy = None
            if not ctx.quick:
                with fresh("lossy") as server:
                    lossy = await inspection_over_2g(browser, server, loss_s=15)
        finally:
            await browser.close()

    for kind, label, note in (
        (
            "cut",
            "link cut, edit saved → bar says no connection",
            "from the save: the app's first request tells",
        ),
        (
            "lie-fi",
            "link goes lie-fi, edit saved → bar says server not answering",
            "from the save: 1.5 s send delay, then a 2.5 s probe",
        ),
        (
            "back",
            "answers back (nothing announced) → bar says Daring",
            "probes every ~4 s while something waits",
        ),
    ):
        values = times[kind]
        section.add(
            label, f"{fmt_ms(median(values))} (max {fmt_ms(max(values))})", f"{note}; {rounds} rounds"
        )
    section.add(
        "link goes silent 0.3 s into a photo range (2G) → bar says server not answering",
        f"{fmt_ms(median(silent))} (max {fmt_ms(max(silent))})",
        f"the range's progress question every 1.2 s gets no answer in 2.5 s; {rounds} rounds",
    )
    extra_drop, first, total, _, _ = with_drop
    extra_plain = without[0]
    section.add(
        "longest wait between two progress changes, 2 photos over 2G",
        fmt_ms(without[4]),
        "the bar follows the bytes the server holds, inside a range too",
    )
    section.add(
        "bytes up beyond the photos, 2 photos over 2G, no drop",
        fmt_bytes(extra_plain),
        f"requests' headers, probes, push, pulls; photos {fmt_bytes(without[2])}",
    )
    section.add(
        "same, connection dropped 85 % into the first photo",
        fmt_bytes(extra_drop),
        f"the drop cost {fmt_bytes(max(0, extra_drop - extra_plain))} in all (retried requests, "
        f"probes); a restart from zero resends "
        f"{fmt_bytes(int(first * 0.85))} (first photo {fmt_bytes(first)}, photos {fmt_bytes(total)})",
    )
    took, photo_bytes, up = inspection
    section.add(
        "one inspection with 5 photos over 2G → all on the server",
        fmt_ms(took),
        f"photos {fmt_bytes(photo_bytes)}, {fmt_bytes(up)} sent up in all; "
        f"the photos alone need {photo_bytes / TWO_G['up_bps']:.0f} s at 6 kB/s",
    )
    if lossy is not None:
        section.add(
            "same, signal lost for 15 s a quarter of the way in",
            fmt_ms(lossy[0]),
            f"{fmt_bytes(lossy[2])} sent up in all",
        )
    section.check("every scenario ends with everything on the server", True)
    section.notes.append(
        "The link is shaped by a forwarder on loopback (tests/browser/link.py): bandwidth is shared "
        "by the phone's connections, latency is paid once per piece; real radios add jitter and loss."
    )
    return section
