"""Alerts in the browser: the admin page lists, adds and removes webhooks; the service worker shows
a pushed alert as a notification in the language it came in and keeps the record's path for the
tap (the push is delivered through Chromium's DevTools protocol: no push service is reachable)."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.browser._supervisor_fixtures import log_in, supervisor_page
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def report_kritis(server: Server, incident_id: str, title: str, description: str) -> None:
    """Officer agus reports a kritis broken seal at the demo warehouse, through the sync API."""
    from tests.browser.helpers import WAREHOUSE

    fields = {"category": "segel_rusak", "severity": "kritis", "title": title, "description": description}
    with server.api("agus") as api:
        [created] = api.push({"collection": "incidents", "op": "create", "id": incident_id,
                              "warehouse_id": WAREHOUSE, "fields": fields})  # fmt: skip
        assert created["status"] == "applied"


async def deliver_push(page: Page, server: Server, alert: dict[str, object]) -> None:
    """Register the service worker from `page` (granted notifications), wait until it is active
    and in control, and hand it `alert` as a push message through Chromium's DevTools protocol
    (`ServiceWorker.deliverPushMessage`: no push service is reachable here)."""
    await page.context.grant_permissions(["notifications"], origin=server.base_url)
    await page.evaluate("navigator.serviceWorker.register('/sw.js', {type: 'module', scope: '/'})")
    # a push delivered to a worker still activating may be dropped: wait until it is activated
    await page.evaluate(
        """navigator.serviceWorker.ready.then((r) => r.active.state === 'activated' ||
             new Promise((done) => r.active.addEventListener('statechange', () =>
               r.active.state === 'activated' && done(true))))"""
    )
    cdp = await page.context.new_cdp_session(page)
    registrations: list[dict[str, object]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
    await cdp.send("ServiceWorker.enable")
    for _ in range(600):  # the machine may be loaded: up to 30 s
        if registrations:
            break
        await asyncio.sleep(0.05)
    [registration] = [r for r in registrations if not r.get("isDeleted")][:1]
    message = {"origin": server.base_url, "registrationId": registration["registrationId"]}
    await cdp.send("ServiceWorker.deliverPushMessage", {**message, "data": json.dumps(alert)})
    await cdp.detach()


async def test_the_admin_page_lists_adds_and_removes_webhooks(browser: Browser, server: Server) -> None:
    async with supervisor_page(browser, server, "admin") as sup:
        page = sup.page
        await page.goto(f"{server.base_url}/supervisor/#/admin")
        await expect(page.get_by_role("heading", name="Webhook", exact=True)).to_be_visible()
        await expect(page.locator("#webhooks")).to_contain_text("Belum ada webhook.")
        await page.locator("#webhook-add").click()
        dialog = page.locator("dialog.form-dialog")
        await dialog.locator("[name=url]").fill("http://192.168.10.5:8080/telegram")
        await dialog.locator("[name=events]").fill("incident.created, incident.severity_raised")
        await dialog.locator("[name=secret]").fill("rahasia-posko-kecamatan")
        await dialog.locator("[name=allow_private]").fill("ya")
        await dialog.get_by_role("button", name="Tambah webhook").click()
        row = page.locator("#webhooks tr[data-webhook]")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text("http://192.168.10.5:8080/telegram")
        await expect(row).to_contain_text("incident.severity_raised")
        with sqlite3.connect(server.database) as db:
            [(url, events, secret)] = db.execute("SELECT url, events, secret FROM webhooks").fetchall()
            added = db.execute("SELECT count(*) FROM audit_log WHERE kind = 'webhook.added'").fetchone()
        assert url == "http://192.168.10.5:8080/telegram" and secret == "rahasia-posko-kecamatan"
        assert json.loads(events) == ["incident.created", "incident.severity_raised"]
        assert added == (1,)  # audited
        await row.get_by_role("button", name="Hapus").click()
        await page.locator("dialog.form-dialog").get_by_role("button", name="Hapus").click()
        await expect(page.locator("#webhooks")).to_contain_text("Belum ada webhook.")
        with sqlite3.connect(server.database) as db:
            assert db.execute("SELECT count(*) FROM webhooks").fetchone() == (0,)


async def test_the_service_worker_shows_a_pushed_alert_and_keeps_the_records_path(
    browser: Browser, server: Server
) -> None:
    async with supervisor_page(browser, server, "hendra") as sup:
        page = sup.page
        alert = {"title": "Insiden baru (KRITIS)", "body": "Gudang Johar: Segel pintu belakang sobek",
                 "url": "/supervisor/#/incidents/inc-42", "tag": "incidents/inc-42",
                 "event": "incident.created", "critical": True}  # fmt: skip
        await deliver_push(page, server, alert)
        shown: list[dict[str, object]] = []
        for _ in range(600):
            shown = await page.evaluate(
                """navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((ns) =>
                     ns.map((n) => ({title: n.title, body: n.body, tag: n.tag, data: n.data,
                                     requireInteraction: n.requireInteraction})))"""
            )
            if shown:
                break
            await asyncio.sleep(0.05)
        assert shown == [
            {"title": "Insiden baru (KRITIS)", "body": "Gudang Johar: Segel pintu belakang sobek",
             "tag": "incidents/inc-42", "requireInteraction": True,
             "data": {"url": "/supervisor/#/incidents/inc-42", "event": "incident.created"}}
        ]  # fmt: skip


async def test_an_officer_sees_a_banner_for_a_critical_incident_at_their_warehouse_after_sync(
    open_app, server: Server
) -> None:
    from tests.browser.helpers import WAREHOUSE, go, login, sync_now

    app = await open_app("slamet")
    await login(app, "slamet")
    page = app.page
    incident_id = "0192f3c4-8a1b-7c2d-9e3f-4a5b6c7d0200"
    report_kritis(server, incident_id, "Segel pintu utama putus", "Segel ditemukan putus pukul 02.00")
    await sync_now(page)
    await go(page, "#/")
    banner = page.locator(f".banner-critical[data-incident='{incident_id}']")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("Kejadian KRITIS di")
    await expect(banner).to_contain_text("Segel pintu utama putus")
    await banner.click()
    await expect(page).to_have_url(f"{app.base_url}/#/w/{WAREHOUSE}/incident/{incident_id}")


SYSTEM_PYTHON = "/usr/bin/python3"
"""Debian's python, with python3-dbus and python3-gi: tests/browser/notification_daemon.py runs on it."""


def _desktop_missing() -> str | None:
    if shutil.which("dbus-daemon") is None:
        return "needs dbus-daemon (Debian's dbus package)"
    check = subprocess.run([SYSTEM_PYTHON, "-c", "import dbus, gi"], capture_output=True)
    return None if check.returncode == 0 else "needs Debian's python3-dbus and python3-gi"


@dataclass
class Desktop:
    """A session bus with a notification daemon on it: what a desktop gives Chromium."""

    bus: str
    daemon: subprocess.Popen[str]
    lines: queue.Queue[dict[str, object]]

    def next(self, key: str, timeout_s: float = 60.0) -> dict[str, object]:
        """The daemon's next line naming `key` (a notification shown, closed...)."""
        while True:
            line = self.lines.get(timeout=timeout_s)
            if key in line:
                return line

    def click(self, notification_id: object) -> None:
        """Click the notification, as a person does on the desktop's popup."""
        assert self.daemon.stdin is not None
        self.daemon.stdin.write(json.dumps({"click": notification_id}) + "\n")
        self.daemon.stdin.flush()


@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[Desktop]:
    missing = _desktop_missing()
    if missing:
        pytest.skip(missing)
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"], stdout=subprocess.PIPE, text=True
    )
    assert bus.stdout is not None
    address = bus.stdout.readline().strip()
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": address}
    daemon = subprocess.Popen(
        [SYSTEM_PYTHON, str(Path(__file__).with_name("notification_daemon.py"))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines: queue.Queue[dict[str, object]] = queue.Queue()

    def read() -> None:
        assert daemon.stdout is not None
        for line in daemon.stdout:
            lines.put(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    try:
        found = Desktop(address, daemon, lines)
        found.next("ready", timeout_s=30)
        yield found
    finally:
        for process in (daemon, bus):
            process.terminate()
            process.wait(timeout=10)
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()


@pytest.fixture
async def desktop_browser(desktop: Desktop, tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """Chromium on that desktop. A persistent context (a regular profile): Chromium hands a click
    on a notification of an off-the-record context (Playwright's `new_context`) to no one."""
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS,
            env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": desktop.bus},
            locale="id-ID", timezone_id="Asia/Jakarta", viewport={"width": 1280, "height": 900},
        )  # fmt: skip
        try:
            yield context
        finally:
            await context.close()


async def test_tapping_an_alert_opens_the_incident_in_the_supervisor_page(
    desktop: Desktop, desktop_browser: BrowserContext, server: Server
) -> None:
    """A real click: the notification is shown through the desktop's notification daemon and
    clicked there, so Chromium fires the service worker's own `notificationclick`. A supervisor page
    already open is focused and taken to the incident; with none open, a window opens on it."""
    incident_id = "0192f3c4-8a1b-7c2d-9e3f-4a5b6c7d0301"
    report_kritis(server, incident_id, "Segel gudang belakang putus", "Segel pintu belakang ditemukan putus")
    alert = {"title": "Insiden baru (KRITIS)", "body": "Segel gudang belakang putus",
             "url": f"/supervisor/#/incidents/{incident_id}", "tag": f"incidents/{incident_id}",
             "event": "incident.created", "critical": True}  # fmt: skip
    record = f"{server.base_url}/supervisor/#/incidents/{incident_id}"

    page = desktop_browser.pages[0] if desktop_browser.pages else await desktop_browser.new_page()
    await log_in(page, server)
    await deliver_push(page, server, alert)
    shown = await asyncio.to_thread(desktop.next, "notify")
    assert shown["summary"] == "Insiden baru (KRITIS)" and "Segel gudang belakang putus" in str(shown["body"])
    await asyncio.to_thread(desktop.click, shown["notify"])
    await expect(page).to_have_url(record)  # the open page, taken to the record
    card = f"article.incident.is-focused[data-incident='{incident_id}']"
    focused = page.locator(card)
    await expect(focused).to_be_visible()
    await expect(focused).to_contain_text("Segel gudang belakang putus")

    other = await desktop_browser.new_page()  # no supervisor page open any more
    await other.goto(f"{server.base_url}/healthz")
    await page.close()
    await deliver_push(other, server, {**alert, "title": "Insiden baru (KRITIS) lagi"})
    shown = await asyncio.to_thread(desktop.next, "notify")
    async with desktop_browser.expect_page() as opening:
        await asyncio.to_thread(desktop.click, shown["notify"])
    opened = await opening.value
    await expect(opened).to_have_url(record)
    await expect(opened.locator(card)).to_be_visible()


PUSH_STUB = """(subscription) => {
  // This Chromium has no push service to register with (no internet): the browser's own
  // PushManager.subscribe is replaced by one that answers as it would, with real P-256 keys.
  let current = null;
  const made = { ...subscription, toJSON: () => subscription };
  made.unsubscribe = async () => { current = null; return true; };
  PushManager.prototype.subscribe = async function () { current = made; return made; };
  PushManager.prototype.getSubscription = async function () { return current; };
}"""


async def test_an_officer_turns_alerts_on_for_their_phone_from_the_sync_page(
    open_app: Any, server: Server
) -> None:
    """The toggle's module is loaded when the sync page shows (it is not in the shell), and turning
    it on stores the officer's subscription on the server (what a push service would be handed is
    the one stand-in here: Chromium cannot subscribe without its vendor's push service); off
    removes it."""
    from tests.alerts.push_service import Browser as PushBrowser
    from tests.browser.helpers import go, login

    app = await open_app("slamet")
    page = app.page
    lazy: list[str] = []
    page.on("request", lambda r: lazy.append(r.url) if "/js/lazy/" in r.url else None)
    await login(app, "slamet")
    assert lazy == []  # not loaded with the shell
    await app.context.grant_permissions(["notifications"], origin=app.base_url)
    subscription = PushBrowser(endpoint="https://push.tigapilar.invalid/send/slamet-phone").subscription()
    del subscription["lang"]
    await page.evaluate(PUSH_STUB, subscription)
    await go(page, "#/sync")
    card = page.locator("#alerts-phone")
    toggle = page.locator("#alerts-phone-toggle")
    await expect(toggle).to_have_text("Nyalakan notifikasi")
    await expect(card).to_have_attribute("data-state", "off")
    await expect(page.locator("#alerts-phone-duty")).to_have_text(
        "Petugas menerima peringatan hanya saat bertugas: terjadwal di shift jaga yang sedang berjalan"
        " atau sudah masuk jaga, sampai selesai jaga atau shift berakhir."
    )  # the server tells officers only while on duty (tests/alerts/test_webpush.py)
    assert [urlsplit(u).path for u in lazy] == ["/js/lazy/alert-subscribe.js"]
    await toggle.click()
    await expect(card).to_have_attribute("data-state", "on")
    await expect(page.locator("#alerts-phone-state")).to_have_text("Notifikasi menyala di HP ini.")
    with server.api("slamet") as api:
        [stored] = api.get("/api/push/subscriptions").json()
        assert stored["endpoint"] == subscription["endpoint"]
        await toggle.click()
        await expect(card).to_have_attribute("data-state", "off")
        assert api.get("/api/push/subscriptions").json() == []
