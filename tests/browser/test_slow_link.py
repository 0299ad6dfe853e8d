"""Photos over a 2G link (tests/browser/link.py: 800 ms round trip, 25 kB/s down, 6 kB/s up), with
the connection dropped mid-photo: the upload resumes where the server's copy ends, the officer sees
photos and bytes counted while it goes, and the server ends with every photo exactly as taken."""

from __future__ import annotations

import hashlib
import itertools
import re
from typing import Any

from playwright.async_api import Page, expect

from tests.browser.conftest import App, Server
from tests.browser.helpers import WAREHOUSE, go, login, photo_payload, sync_state, wait_synced

TWO_G = {"latency_ms": 400, "down_bps": 25_000, "up_bps": 6_000}
"""One way: 400 ms each direction is an 800 ms round trip."""
PROGRESS = re.compile(r"(\d+) dari (\d+) foto · (\d+) dari (\d+) KB")

PHONE_PHOTOS = """async () => {
  const { loadSession } = await import('/js/session.js');
  const { openUserDb } = await import('/js/db.js');
  const session = await loadSession();
  const db = await openUserDb(session.userId);
  const entries = await db.getAll('outbox');
  const photos = Object.fromEntries((await db.getAll('photos')).map((p) => [p.sha, p.size]));
  db.close();
  const order = entries.flatMap((e) => e.fields?.photos ?? []);
  return order.map((sha) => [sha, photos[sha]]);
}"""


async def report_with_photos(page: Page, seeds: list[int]) -> None:
    await go(page, f"#/w/{WAREHOUSE}/incident/new")
    await page.get_by_label("Kategori").select_option("segel_rusak")
    await page.locator("fieldset.choice label", has_text="Tinggi").click()
    await page.get_by_label("Uraian kejadian").fill("Atap bocor di atas tumpukan kotak suara")
    await page.get_by_label("Lokasi").fill("Lantai 4, sisi utara")
    await page.locator("input[type=file]").set_input_files([photo_payload(seed) for seed in seeds])
    await expect(page.locator(".thumbs img[src^='blob:']")).to_have_count(len(seeds))
    await page.get_by_role("button", name="Laporkan").click()
    await page.wait_for_url("**/incident/0*")


async def photos_taken_without_signal(open_app, seeds: list[int]) -> tuple[App, list[list[Any]]]:
    """Slamet logged in, then reports an incident with these photos without signal: they wait in
    the outbox, in order, as [sha, size]."""
    app: App = await open_app("slamet")
    await login(app, "slamet")
    app.link.refuse()
    await report_with_photos(app.page, seeds)
    return app, await app.page.evaluate(PHONE_PHOTOS)


async def test_a_2g_upload_dropped_mid_photo_resumes_and_shows_its_progress(open_app, server: Server) -> None:
    # Taken without signal, so both photos wait in the outbox.
    app, photos = await photos_taken_without_signal(open_app, [31, 32])
    page = app.page
    assert len(photos) == 2
    first_size = photos[0][1]
    photo_bytes = sum(size for _, size in photos)

    # Then a 2G signal, which drops 85 % into the first photo.
    app.link.shape(**TWO_G)
    app.link.drop_after(up_bytes=int(first_size * 0.85))
    sent_before = app.link.up.bytes
    app.link.restore()

    samples: list[tuple[int, int, int, int]] = []
    bar = page.locator("#status-bar .status-syncing")
    for _ in range(600):
        if await bar.count():
            match = PROGRESS.search(await bar.inner_text())
            if match:
                samples.append(tuple(int(g) for g in match.groups()))  # type: ignore[arg-type]
        if app.link.drops and (await sync_state(page))["unanswered"] == 0:
            break
        await page.wait_for_timeout(250)
    await wait_synced(page, timeout=120_000)
    assert app.link.drops == 1

    # The officer saw photos and bytes counted while they went.
    assert samples, "no progress shown during the upload"
    assert {count for _, count, _, _ in samples} == {2}
    assert len({sent for _, _, sent, _ in samples}) >= 3, samples
    assert all(0 <= sent <= size for _, _, sent, size in samples)

    # Resumed, not restarted: a restart from zero sends the 85 % of the first photo again; here
    # everything beyond the photos' own bytes (what went twice, and every request's headers, the
    # probes, the push and the pulls) stays below that.
    overhead = app.link.up.bytes - sent_before - photo_bytes
    print("bytes sent up beyond the photos", overhead, "first photo", first_size)
    assert overhead < first_size * 0.85, (overhead, first_size)

    with server.api("rina") as api:
        [incident] = [
            r
            for r in api.pull_all().values()
            if r["collection"] == "incidents" and r["fields"].get("location") == "Lantai 4, sisi utara"
        ]
        assert incident["fields"]["photos"] == [sha for sha, _ in photos]
        for sha, size in photos:
            body = api.get(f"/api/attachments/{sha}").content
            assert len(body) == size and hashlib.sha256(body).hexdigest() == sha


RECORD_PROGRESS = """() => {
  // Every text the status bar's progress shows, as it is drawn (no sampling: none is missed).
  window.__progress = [];
  const bar = document.getElementById('status-bar');
  const note = () => {
    const text = bar.querySelector('.status-syncing')?.textContent;
    const shown = window.__progress;
    if (text && shown[shown.length - 1] !== text) shown.push(text);
  };
  new MutationObserver(note).observe(bar, { childList: true, subtree: true, characterData: true });
}"""


async def test_2g_progress_moves_at_least_every_2_seconds_of_the_link(open_app, server: Server) -> None:
    """The bar's bytes follow what the server holds, inside a range too: no step of the shown
    progress is larger than what the link's upload rate sends in 2 s (ranges are 16 KiB and more,
    so progress counted only per range jumps further)."""
    app, photos = await photos_taken_without_signal(open_app, [41, 42])
    page = app.page
    app.link.shape(**TWO_G)
    await page.evaluate(RECORD_PROGRESS)
    app.link.restore()
    await wait_synced(page, timeout=120_000)

    shown: list[str] = await page.evaluate("window.__progress")
    sent = [int(m.group(3)) for m in map(PROGRESS.search, shown) if m]
    steps = [b - a for a, b in itertools.pairwise(sent)]
    print("progress shown (KB sent):", sent)
    photo_kb = sum(size for _, size in photos) / 1024
    assert sent and sent[-1] >= photo_kb * 0.5, (sent, photo_kb)
    two_seconds_kb = 2 * TWO_G["up_bps"] / 1024
    assert all(0 <= step <= two_seconds_kb for step in steps), (steps, two_seconds_kb)


async def test_2g_link_silent_mid_photo_shows_within_5_seconds_and_resumes(open_app, server: Server) -> None:
    """The link goes silent while a photo range is on its way (an upload shows no sign of life
    until its answer): within 5 s the bar says the server does not answer; when answers come back
    the photo goes on from what the server holds."""
    app, [(sha, size)] = await photos_taken_without_signal(open_app, [51])
    page = app.page
    app.link.shape(**TWO_G)

    ranges: list[str] = []
    page.on("request", lambda r: ranges.append(r.url) if r.method == "PUT" else None)
    app.link.restore()
    for _ in range(400):
        if ranges:
            break
        await page.wait_for_timeout(50)
    assert ranges, "no photo range was sent"
    await page.wait_for_timeout(300)
    app.link.black_hole()  # mid-range: the phone's bytes vanish, nothing comes back
    status = page.locator("#status-bar")
    await expect(status.locator(".status-net")).to_have_text("Server tidak menjawab", timeout=5_000)

    app.link.restore()
    await expect(status.locator(".status-net")).to_have_text("Daring", timeout=10_000)
    # "Sinkronkan sekarang" while the photo goes on: it answers at once, and when the round ends.
    await status.click()
    await page.locator("#sync-now").click()
    await expect(page.locator("#sync-result")).to_have_attribute("data-outcome", re.compile("trying|ok"))
    await expect(page.locator("#sync-result")).to_contain_text("Berhasil: semua terkirim", timeout=120_000)
    await wait_synced(page, timeout=120_000)
    with server.api("slamet") as api:
        body = api.get(f"/api/attachments/{sha}").content
    assert len(body) == size and hashlib.sha256(body).hexdigest() == sha
