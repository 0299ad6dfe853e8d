"""Every screen of both apps in both languages says things in words (issue 17): the officer's
phone at 360 × 740 and the supervisor pages at 1366 × 800 are walked with the demo data (an
inspection with findings, a returned one, incidents, a conflict, the guard post's shifts and
handovers), following every link each screen offers, and no text a person can see or hear (text,
options, accessible names, tooltips) may be a machine code, a string key, "N/A", "undefined",
"null", "[object …]" or "NaN". In English, no sentence of the Indonesian tables may be left."""

from __future__ import annotations

import os
import re
import sqlite3
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import msgspec
import pytest
from playwright.async_api import Page, expect

from server.seed import load_templates
from sync.vocabulary import WORDS
from tests.browser._supervisor_fixtures import Phone, supervisor_page
from tests.browser.conftest import SCREENSHOTS_ENV, App, Server, screenshot_path
from tests.browser.helpers import WAREHOUSE, login
from tests.server.test_report_pdf import content_text, pdftotext

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STATIC = Path(__file__).resolve().parents[2] / "static"
STRING_TABLES = [STATIC / "js" / "strings", STATIC / "supervisor" / "js" / "strings"]

# What the walk adds to every page before it loads: fetches in flight (the live stream aside) and
# the time of the last change to the page, so that a screen is read once it has settled.
SETTLE_SCRIPT = """
(() => {
  window.__walk = { inflight: 0, changed: performance.now() };
  const original = window.fetch;
  window.fetch = function (input, init) {
    const url = String(input && input.url ? input.url : input);
    if (url.includes('/api/live')) return original.call(this, input, init);
    window.__walk.inflight += 1;
    return original.call(this, input, init).finally(() => {
      window.__walk.inflight -= 1;
      window.__walk.changed = performance.now();
    });
  };
  const watch = () => new MutationObserver(() => { window.__walk.changed = performance.now(); })
    .observe(document.documentElement,
      { subtree: true, childList: true, characterData: true, attributes: true });
  if (document.documentElement) watch(); else document.addEventListener('DOMContentLoaded', watch);
})();
"""

# Everything a person perceives: text nodes (also of closed <details> and <option>s), accessible
# names, tooltips, placeholders and alternative texts; not scripts or styles.
READ_SCRIPT = """
() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    // .mono marks an identifier shown as one on purpose (a username, a hash, a warehouse id an
    // admin types into the command line), not a word the page forgot to translate.
    if (!parent || parent.closest('script, style, template, noscript, .mono')) continue;
    const text = node.textContent.trim();
    if (text) out.push(text);
  }
  const NAMES = ['aria-label', 'title', 'placeholder', 'alt', 'aria-description'];
  for (const el of document.body.querySelectorAll(NAMES.map((name) => `[${name}]`).join(', '))) {
    if (el.closest('.mono')) continue;
    for (const name of NAMES) {
      const value = el.getAttribute(name);
      if (value && value.trim()) out.push(value.trim());
    }
  }
  for (const el of document.body.querySelectorAll('input[type=button], input[type=submit]')) {
    out.push(el.value);
  }
  return out;
}
"""


def _keys() -> set[str]:
    keys = set(WORDS["id"])
    for directory in STRING_TABLES:
        keys |= set(re.findall(r"^\s*'([a-z][\w.]*)':", (directory / "id.js").read_text(), re.M))
    return keys


def _tables(lang: str) -> dict[str, str]:
    """Every screen string and word of one language, by key."""
    table = dict(WORDS[lang])
    for directory in STRING_TABLES:
        text = (directory / f"{lang}.js").read_text()
        for key, value in re.findall(r"^\s*'([a-z][\w.]*)':\s*'((?:[^'\\]|\\.)*)',?\s*$", text, re.M):
            table[key] = value.replace("\\'", "'")
    return table


AGENCY_CODE = "an agency or recipient code"
PLATFORM = "x86_64"
"""The processor a browser reports in its platform ("Linux x86_64"), part of a device's model."""
KEY_PREFIXES = sorted({key.split(".")[0] for key in _keys()})
MACHINE = [
    ("a code in snake_case", re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")),
    ("a code in SNAKE_CASE", re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")),
    (AGENCY_CODE, re.compile(r"\b(?:POLRI|DISHUB|BAWASLU|POLRES|POLSEK|KORAMIL|DAMKAR)\b")),
    ("a string key", re.compile(r"\b(?:" + "|".join(KEY_PREFIXES) + r")\.[a-z_][\w]*(?:\.[\w]+)*")),
    (
        "an id",
        re.compile(
            r"\b(?:gd|dev|verify)-[a-z0-9-]{4,}|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
        ),
    ),
    ('"N/A"', re.compile(r"\bN/A\b")),
    ('"undefined"', re.compile(r"\bundefined\b")),
    ('"null"', re.compile(r"\bnull\b")),
    ('"[object …]"', re.compile(r"\[object\b")),
    ('"NaN"', re.compile(r"\bNaN\b")),
]


DATA_KEYS = {"login.device_name"}
"""Strings that become data: the supervisor browser's device name, given once at login in the
language of that moment and shown as the device's name from then on (an admin may rename it)."""


def _indonesian_only() -> list[str]:
    """Sentences of the Indonesian tables and checklists that English says otherwise: left on an
    English screen, they are untranslated. Only whole phrases of two or more words without
    placeholders, so that names and notes in the demo data (Indonesian, as people wrote them) do
    not count."""
    id_words, en_words = _tables("id"), _tables("en")
    phrases = {
        value
        for key, value in id_words.items()
        if en_words.get(key, value) != value
        and "{" not in value
        and len(value.split()) >= 2
        and key not in DATA_KEYS
    }
    for template in load_templates():

        def labels(node: Any) -> None:
            if isinstance(node, dict):
                if set(node) == {"id", "en"} and isinstance(node["id"], str):
                    if node["id"] != node["en"] and len(node["id"].split()) >= 2:
                        phrases.add(node["id"])
                    return
                for value in node.values():
                    labels(value)
            elif isinstance(node, list):
                for value in node:
                    labels(value)

        labels(msgspec.to_builtins(template))
    return sorted(phrases, key=len, reverse=True)


INDONESIAN = _indonesian_only()


def problems_in(texts: list[str], lang: str) -> list[str]:
    found = []
    for text in texts:
        for what, pattern in MACHINE:
            if what == AGENCY_CODE and text.upper() == text:
                continue  # a letterhead in capitals ("POSKO … — POLRI · TNI · PEMDA · KPU")
            for match in pattern.finditer(text.replace(PLATFORM, "")):
                found.append(f"{what}: {match.group(0)!r} in {text[:120]!r}")
    if lang == "en":
        # A phrase of the tables is a whole text or a whole part of one ("Label: value · …"); a
        # title an officer wrote that merely contains it ("Dua kamera CCTV mati") is not one.
        pieces = {piece.strip() for text in texts for piece in re.split(r"[·:|—–()\n]", text)}
        for phrase in INDONESIAN:
            if phrase in pieces or phrase in texts:
                found.append(f"untranslated: {phrase!r}")
    return found


async def settled(page: Page) -> None:
    """Until the screen has settled: no fetch in flight, nothing changed for a while, nothing
    loading. (Polled from here: the app's CSP forbids wait_for_function's eval.)"""
    for _ in range(600):
        state = await page.evaluate(
            "() => ({ inflight: window.__walk?.inflight ?? 0,"
            " quiet: performance.now() - (window.__walk?.changed ?? 0),"
            " loading: !!document.querySelector('main .loading, #main .loading') })"
        )
        if not state["inflight"] and not state["loading"] and state["quiet"] > 800:
            return
        await page.wait_for_timeout(100)
    raise AssertionError(f"{page.url} never settled")


async def open_route(page: Page, route: str) -> None:
    """Show a route and wait until its screen (a new h1, not the previous one) has settled."""
    if await page.evaluate("() => location.hash") != route:
        await page.evaluate(
            "() => document.querySelectorAll('main h1, #main h1')"
            ".forEach((el) => el.setAttribute('data-walk-stale', ''))"
        )
        await page.evaluate("(h) => { location.hash = h; }", route)
    fresh = page.locator("main h1:not([data-walk-stale]), #main h1:not([data-walk-stale])")
    await expect(fresh.first).to_be_attached(timeout=20_000)
    await settled(page)


def pattern_of(route: str) -> str:
    """A route with its ids replaced (a record's uuid by :id, a warehouse, shift or day by :x), so
    that a few screens of each kind are enough."""

    def segment(part: str) -> str:
        if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", part):
            return ":id"
        return ":x" if part.startswith("gd-") or re.search(r"[\d.]", part) else part

    return "/".join(segment(part) for part in route.split("/"))


SHOOTING = bool(os.environ.get(SCREENSHOTS_ENV))
"""Whether this run makes the docs' screenshots (scripts/screenshots): of the first screen of each
kind named in PHONE_SHOTS / SUPERVISOR_SHOTS, in Indonesian, as the walk shows it."""
PHONE_SHOTS = {
    "#/": "phone-home",
    "#/w/:x": "phone-warehouse",
    "#/w/:x/inspection/:id": "phone-inspection",
    "#/w/:x/incident/:id": "phone-incident",
    "#/w/:x/incident/new": "phone-incident-new",
    "#/w/:x/stock": "phone-stock",
    "#/w/:x/handover/:x": "phone-handover",
    "#/sync": "phone-sync",
}
SUPERVISOR_SHOTS = {
    "#/": "supervisor-overview",
    "#/roster/:x": "supervisor-roster",
    "#/inspections": "supervisor-inspections",
    "#/inspection/:id": "supervisor-inspection",
    "#/incidents": "supervisor-incidents",
    "#/conflicts": "supervisor-conflicts",
    "#/stock": "supervisor-stock",
    "#/charts": "supervisor-charts",
    "#/print/:id": "supervisor-berita-acara",
}


async def shoot(page: Page, name: str, *, full_page: bool) -> None:
    await page.screenshot(path=str(screenshot_path(f"{name}.png")), full_page=full_page)


async def walk(
    page: Page,
    starts: list[str],
    lang: str,
    *,
    per_kind: int = 2,
    limit: int = 60,
    shots: dict[str, str] | None = None,
) -> dict[str, list[str]]:
    """Visit the start routes and every in-app link they lead to (a few of each kind); returns
    the problems found per route. When making the docs' screenshots, takes those of `shots`."""
    wanted = dict(shots or {}) if SHOOTING and lang == "id" else {}
    queue = deque(starts)
    seen: set[str] = set()
    kinds: dict[str, int] = {}
    problems: dict[str, list[str]] = {}
    while queue and len(seen) < limit:
        route = queue.popleft()
        kind = pattern_of(route)
        if route in seen or (route not in starts and kinds.get(kind, 0) >= per_kind):
            continue
        seen.add(route)
        kinds[kind] = kinds.get(kind, 0) + 1
        await open_route(page, route)
        found = problems_in(await page.evaluate(READ_SCRIPT), lang)
        if found:
            problems[route] = found
        if kind in wanted:
            # The phone as its screen shows it; the laptop's pages whole.
            await shoot(page, wanted.pop(kind), full_page=shots is SUPERVISOR_SHOTS)
        for href in await page.eval_on_selector_all(
            "main a[href^='#/'], #main a[href^='#/'], nav a[href^='#/']",
            "(links) => links.map((a) => a.getAttribute('href'))",
        ):
            if href not in seen and "logout" not in href:
                queue.append(href)
    print(f"walked ({lang}):", *sorted(seen), sep="\n  ")
    return problems


def report(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"{route}:\n  " + "\n  ".join(sorted(set(found))) for route, found in problems.items())


NEW_USER = {"id": "Pengguna baru", "en": "New user"}


def make_conflict(server: Server) -> str:
    """Two officers change one incident's severity from the same revision: a conflict."""
    slamet, agus = Phone(server, "slamet"), Phone(server, "agus")
    try:
        incident = str(uuid.uuid4())
        [created] = slamet.push(
            {
                "id": incident,
                "collection": "incidents",
                "op": "create",
                "warehouse_id": WAREHOUSE,
                "fields": {
                    "category": "kebocoran_banjir",
                    "severity": "sedang",
                    "title": "Atap bocor di atas rak kotak suara",
                    "description": "Air menetes ke rak C setelah hujan deras",
                },
            }
        )
        base = created["revision"]
        for phone, severity in ((slamet, "tinggi"), (agus, "kritis")):
            [result] = phone.push(
                {
                    "id": incident,
                    "collection": "incidents",
                    "op": "patch",
                    "base_rev": base,
                    "fields": {"severity": severity},
                }
            )
            assert result["status"] in ("applied", "conflict"), result
    finally:
        slamet.close()
        agus.close()
    return incident


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_every_phone_screen_says_it_in_words(open_app, server: Server, lang: str) -> None:
    incident = make_conflict(server)
    app: App = await open_app(f"walk-{lang}")
    await app.context.add_init_script(SETTLE_SCRIPT)
    await login(app, "slamet")
    page = app.page
    await page.reload()
    await expect(page.get_by_role("heading", name="Gudang saya")).to_be_visible()
    if lang == "en":
        await page.locator("#lang-toggle").click()
        await expect(page.get_by_role("heading", name="My warehouses")).to_be_visible()
    with server.api("slamet") as api:
        records = api.pull_all()
    inspections = [
        r for r in records.values() if r["collection"] == "inspections" and r["warehouse_id"] == WAREHOUSE
    ]
    with_findings = next(r for r in inspections if r["fields"].get("findings"))
    returned = [r for r in inspections if r["fields"].get("status") == "needs_fix"]
    starts = [
        "#/",
        f"#/w/{WAREHOUSE}",
        f"#/w/{WAREHOUSE}/inspection/{with_findings['id']}",
        *[f"#/w/{WAREHOUSE}/inspection/{r['id']}" for r in returned],
        f"#/w/{WAREHOUSE}/incident/{incident}",
        f"#/w/{WAREHOUSE}/incident/new",
        f"#/w/{WAREHOUSE}/stock",
        "#/sync",
    ]
    problems = await walk(page, starts, lang, shots=PHONE_SHOTS)
    # A new inspection, every section of the checklist on screen as the officer fills it.
    await open_route(page, f"#/w/{WAREHOUSE}")
    await page.locator(
        "#start-inspection, button:has-text('Mulai inspeksi'), button:has-text('Start inspection')"
    ).first.click()
    await page.wait_for_url("**/inspection/*")
    await settled(page)
    found = problems_in(await page.evaluate(READ_SCRIPT), lang)
    if found:
        problems["new inspection"] = found
    if SHOOTING and lang == "id":
        await shoot(page, "phone-inspection-new", full_page=False)
    assert not problems, f"machine codes or untranslated text on the phone ({lang}):\n{report(problems)}"


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_every_supervisor_screen_says_it_in_words(browser, server: Server, lang: str) -> None:
    make_conflict(server)
    problems: dict[str, list[str]] = {}
    for username, starts in (
        (
            "hendra",
            [
                "#/",
                "#/roster",
                "#/inspections",
                "#/incidents",
                "#/conflicts",
                "#/stock",
                "#/charts",
                "#/audit",
            ],
        ),
        ("admin", ["#/admin"]),
    ):
        async with supervisor_page(browser, server, username, width=1366) as sup:
            page = sup.page
            await page.set_viewport_size({"width": 1366, "height": 800})
            await page.context.add_init_script(SETTLE_SCRIPT)
            await page.reload()
            await expect(page.locator("#live")).to_have_attribute("data-status", "live")
            if lang == "en":
                await page.locator("#lang-toggle").click()
                await expect(page.locator("#lang-toggle")).to_have_text("ID")
            for route, found in (await walk(page, starts, lang, shots=SUPERVISOR_SHOTS)).items():
                problems[f"{username} {route}"] = found
            if username == "admin":
                # The new-user form: agencies and roles are chosen by their words.
                await open_route(page, "#/admin")
                await page.get_by_role("button", name=NEW_USER[lang], exact=True).click()
                dialog = page.locator("dialog.form-dialog[open]")
                await expect(dialog.locator("select[name=role] option")).to_have_count(3)
                found = problems_in(await page.evaluate(READ_SCRIPT), lang)
                if found:
                    problems["admin: new user"] = found
                await dialog.locator("button[value=cancel]").click()
    # The berita acara on paper, of a reviewed inspection with findings, in the same language.
    with sqlite3.connect(server.database) as db:
        [(inspection,)] = db.execute(
            "SELECT id FROM records WHERE collection = 'inspections' AND warehouse_id = ?"
            " AND json_extract(fields, '$.status') = 'reviewed'"
            " AND json_array_length(json_extract(fields, '$.findings')) > 0 LIMIT 1",
            (WAREHOUSE,),
        ).fetchall()
    with server.api("hendra") as api:
        pdf = api.client.get(f"/api/inspections/{inspection}/report.pdf", params={"lang": lang})
        assert pdf.status_code == 200, pdf.text
    readings = (content_text(pdf.content), pdftotext(pdf.content))
    lines = [line.strip() for text in readings if text for line in text.splitlines() if line.strip()]
    found = problems_in(lines, lang)
    if found:
        problems["berita acara (PDF)"] = found
    assert not problems, (
        f"machine codes or untranslated text on the supervisor pages ({lang}):\n{report(problems)}"
    )
