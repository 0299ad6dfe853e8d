"""Alerts in the browser: the admin page lists, adds and removes webhooks; the service worker shows
a pushed alert as a notification in the language it came in and keeps the record's path for the
tap (the push is delivered through Chromium's DevTools protocol: no push service is reachable)."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest
from playwright.async_api import Browser, expect

from tests.browser._supervisor_fixtures import supervisor_page
from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


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
        alert = {"title": "Insiden baru (KRITIS)", "body": "Gudang Johar: Segel pintu belakang sobek",
                 "url": "/supervisor/#/incidents/inc-42", "tag": "incidents/inc-42",
                 "event": "incident.created", "critical": True}  # fmt: skip
        await cdp.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": server.base_url,
                "registrationId": registration["registrationId"],
                "data": json.dumps(alert),
            },
        )
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
    with server.api("agus") as api:
        fields = {"category": "segel_rusak", "severity": "kritis", "title": "Segel pintu utama putus",
                  "description": "Segel pintu utama ditemukan putus pukul 02.00"}  # fmt: skip
        [created] = api.push({"collection": "incidents", "op": "create", "id": incident_id,
                              "warehouse_id": WAREHOUSE, "fields": fields})  # fmt: skip
        assert created["status"] == "applied"
    await sync_now(page)
    await go(page, "#/")
    banner = page.locator(f".banner-critical[data-incident='{incident_id}']")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("Kejadian KRITIS di")
    await expect(banner).to_contain_text("Segel pintu utama putus")
    await banner.click()
    await expect(page).to_have_url(f"{app.base_url}/#/w/{WAREHOUSE}/incident/{incident_id}")
