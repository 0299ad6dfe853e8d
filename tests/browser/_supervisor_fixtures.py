"""Helpers of the supervisor browser tests: a laptop browser logged in to /supervisor/, and an
officer pushing through the sync API like a phone (its own client id, numbered mutations)."""

from __future__ import annotations

import hashlib
import io
import itertools
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import PASSWORD, Server, ServerApi


@dataclass
class SupervisorPage:
    page: Page
    errors: list[str] = field(default_factory=list)

    def unexpected_errors(self) -> list[str]:
        return list(self.errors)


@asynccontextmanager
async def supervisor_page(
    browser: Browser, server: Server, username: str = "hendra", *, width: int = 1280, clock: bool = False
) -> AsyncIterator[SupervisorPage]:
    """A laptop browser logged in to the supervisor pages; fails on any console error. With
    `clock`, the page's timers run on Playwright's clock (page.clock) from the start."""
    context = await browser.new_context(
        viewport={"width": width, "height": 900},
        locale="id-ID",
        timezone_id="Asia/Jakarta",
        accept_downloads=True,
    )
    page = await context.new_page()
    sup = SupervisorPage(page)
    page.on("console", lambda m: sup.errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: sup.errors.append(f"pageerror: {e}"))
    try:
        if clock:
            await page.clock.install()
        await log_in(page, server, username)
        yield sup
        assert not sup.errors, "console errors:\n" + "\n".join(sup.errors)
    finally:
        await context.close()


async def log_in(page: Page, server: Server, username: str = "hendra") -> None:
    """Log `page` in to the supervisor pages; returns on the overview, its live stream open."""
    await page.goto(f"{server.base_url}/supervisor/")
    await page.get_by_label("Nama pengguna").fill(username)
    await page.get_by_label("Kata sandi").fill(PASSWORD)
    await page.get_by_role("button", name="Masuk").click()
    await expect(page.get_by_role("heading", name="Ringkasan gudang")).to_be_visible()
    await expect(page.locator("#live")).to_have_attribute("data-status", "live")


def jpeg(seed: int) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (640, 480), ((seed * 53) % 256, (seed * 97) % 256, (seed * 31) % 256))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


class Phone:
    """An officer's phone as the sync protocol sees it: pushes numbered mutations, pulls."""

    def __init__(self, server: Server, username: str) -> None:
        self.api: ServerApi = server.api(username, client_id=f"dev-test-{username}-{uuid.uuid4().hex[:8]}")
        self.seq = itertools.count(1)
        self.counter = itertools.count(1)

    def close(self) -> None:
        self.api.client.close()

    def hlc(self) -> str:
        return f"{int(time.time() * 1000):013d}-{next(self.counter) % 100000:05d}-{self.api.client_id}"

    def push(self, *mutations: dict[str, Any]) -> list[dict[str, Any]]:
        body = {
            "protocol": 1,
            "client_id": self.api.client_id,
            "schema_version": 2,
            "mutations": [{"seq": next(self.seq), "hlc": self.hlc(), "base_rev": 0, **m} for m in mutations],
        }
        response = self.api.client.post("/api/sync/push", json=body)
        response.raise_for_status()
        results: list[dict[str, Any]] = response.json()["results"]
        return results

    def upload(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self.api.client.put(f"/api/attachments/{sha}", content=data).raise_for_status()
        return sha

    def pull(self) -> dict[str, dict[str, Any]]:
        return self.api.pull_all()


def complete_answers(
    template: dict[str, Any], stock: dict[str, int], photo: str, **overrides: Any
) -> dict[str, Any]:
    """Every item answered without a finding (counts equal the expected stock), then overrides."""
    fields: dict[str, Any] = {}
    for section in template["sections"]:
        for item in section["items"]:
            kind, code = item["kind"], item["code"]
            if kind == "photo":
                fields[f"p.{code}"] = [photo]
                continue
            if kind == "yes_no":
                value: Any = next(v for v in ("ya", "tidak", "na") if v not in item.get("finding_if", []))
            elif kind == "choice":
                value = next(c for c in item["choices"] if c not in item.get("finding_if", []))
            elif kind == "number":
                expected = item.get("expected")
                value = stock.get(item.get("stock_item") or "", int(expected if expected is not None else 4))
            elif kind == "seal":
                value = "KPU-JB 004217"
            else:
                value = f"Catatan {code}"
            fields[f"a.{code}"] = value
    fields.update({f"a.{k}": v for k, v in overrides.items()})
    return fields


def stock_of(records: dict[str, dict[str, Any]], warehouse: str) -> dict[str, int]:
    """The expected quantity of each stock item in a warehouse, from a pull."""
    return {
        r["fields"]["item_type"]: r["fields"]["expected"]
        for r in records.values()
        if r["collection"] == "stock_levels" and r["warehouse_id"] == warehouse
    }


def submit_inspection(
    server: Server, username: str, warehouse: str, shift: str, photo_seed: int, **overrides: Any
) -> tuple[str, dict[str, Any]]:
    """An officer's phone creates and submits an inspection on the current checklist, every item
    answered without a finding but for `overrides`; returns its id and the checklist."""
    phone = Phone(server, username)
    try:
        template: dict[str, Any] = phone.api.get("/api/templates/current").json()
        photo = phone.upload(jpeg(photo_seed))
        fields = complete_answers(template, stock_of(phone.pull(), warehouse), photo, **overrides)
        inspection = str(uuid.uuid4())
        results = phone.push(
            {
                "id": inspection,
                "collection": "inspections",
                "op": "create",
                "warehouse_id": warehouse,
                "fields": {"template_id": template["id"], "shift": shift, **fields},
            },
            {"id": inspection, "collection": "inspections", "op": "submit", "base_rev": 0},
        )
        assert [r["status"] for r in results] == ["applied", "applied"], results
    finally:
        phone.close()
    return inspection, template


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
