"""A phone whose date is wrong (set by hand, reset after the battery died) still stamps its edits
by the server's clock: every sync answer's `server_hlc` gives the offset between the two clocks
(kept as `clock_offset_ms` in the phone's meta store, static/js/server-time.js), and clock stamps and
times written into records use the phone's clock corrected by it. The sync screen tells the officer
the phone's clock is off.

Playwright's clock emulation sets the phone's date; the server and this test use the real one.
A push whose stamps are far ahead is refused `400 clock_ahead` by the server (sync/engine.py); the
phone then stamps its unanswered mutations again by the server's clock and retries at once.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from playwright.async_api import Page, Request, expect

from tests.browser.conftest import PASSWORD, App, Server
from tests.browser.helpers import (
    WAREHOUSE,
    count_stock,
    go,
    local_record,
    login,
    report_incident,
    wait_synced,
)

DAY_MS = 24 * 3600 * 1000
MINUTE_MS = 60 * 1000
STOCK_ITEM = "kotak_suara"

META = """async (key) => {
  const { loadSession } = await import('/js/session.js');
  const { openUserDb } = await import('/js/db.js');
  const session = await loadSession();
  const db = await openUserDb(session.userId);
  const value = await db.get('meta', key);
  db.close();
  return value ?? null;
}"""

OUTBOX = """async () => {
  const { loadSession } = await import('/js/session.js');
  const { openUserDb } = await import('/js/db.js');
  const session = await loadSession();
  const db = await openUserDb(session.userId);
  const entries = await db.getAll('outbox');
  db.close();
  return entries.map((e) => ({ seq: e.seq, id: e.id, collection: e.collection, hlc: e.hlc, state: e.state }));
}"""


def real_ms() -> int:
    return int(time.time() * 1000)


def stamp_ms(stamp: str) -> int:
    return int(stamp.split("-", 1)[0])


def iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_ms(value: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def near(ms: int, expected: int, tolerance: int = 3 * MINUTE_MS) -> bool:
    return abs(ms - expected) <= tolerance


async def phone_meta(page: Page, key: str) -> Any:
    return await page.evaluate(META, key)


async def phone_outbox(page: Page) -> list[dict[str, Any]]:
    return sorted(await page.evaluate(OUTBOX), key=lambda e: e["seq"])


def server_record(server: Server, record_id: str) -> dict[str, Any]:
    """A record as stored by the server, with the clock stamp of each field's last change."""
    with sqlite3.connect(server.database) as db:
        row = db.execute("SELECT fields, field_hlcs FROM records WHERE id = ?", (record_id,)).fetchone()
    assert row, f"the server has no record {record_id}"
    return {"fields": json.loads(row[0]), "stamps": json.loads(row[1])}


def server_copies(server: Server, collection: str, **fields: Any) -> list[str]:
    """Ids of the server's records of `collection` whose fields hold `fields`."""
    with sqlite3.connect(server.database) as db:
        rows = db.execute(
            "SELECT id, fields FROM records WHERE collection = ? AND deleted = 0", (collection,)
        ).fetchall()
    return [rid for rid, text in rows if all(json.loads(text).get(k) == v for k, v in fields.items())]


class PushLog:
    """Every push the phone sends that got an answer, in the order the phone sent them: its
    mutations, then the answer's status and body. The test hears of a finished request a moment
    after the page, and of two in a row not always in the order they finished; so a push is
    listed once every push sent before it has been heard of (answered, or failed without one)."""

    def __init__(self, page: Page) -> None:
        self.sent: list[Request] = []
        self.outcomes: dict[Request, dict[str, Any] | None] = {}
        page.on("request", self.on_request)
        page.on("requestfinished", self.on_finished)
        page.on("requestfailed", self.on_failed)

    @staticmethod
    def is_push(request: Request) -> bool:
        return request.url.endswith("/api/sync/push")

    def on_request(self, request: Request) -> None:
        if self.is_push(request):
            self.sent.append(request)

    async def on_finished(self, request: Request) -> None:
        if not self.is_push(request):
            return
        mutations = json.loads(request.post_data or "{}").get("mutations", [])
        response = await request.response()
        body = await response.json() if response else None
        self.outcomes[request] = {
            "mutations": mutations,
            "status": response.status if response else None,
            "body": body,
        }

    def on_failed(self, request: Request) -> None:
        if self.is_push(request):
            self.outcomes[request] = None

    @property
    def answered(self) -> list[dict[str, Any]]:
        listed = []
        for request in self.sent:
            if request not in self.outcomes:
                break
            if (outcome := self.outcomes[request]) is not None:
                listed.append(outcome)
        return listed

    def __len__(self) -> int:
        return len(self.answered)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.answered[index]

    def __repr__(self) -> str:
        return repr(self.answered)


def watch_pushes(app: App) -> PushLog:
    return PushLog(app.page)


async def heard(page: Page, pushes: PushLog, count: int) -> list[dict[str, Any]]:
    """The answered pushes, once `count` of them were heard (call it after the phone synced)."""
    for _ in range(300):
        if len(pushes) >= count:
            return pushes.answered
        await page.wait_for_timeout(100)
    raise AssertionError(f"heard {len(pushes)} answered pushes of {count}: {pushes.answered}")


async def shows_clock_notice(page: Page, *, amount: str, direction: str) -> None:
    """The sync screen says how far off the phone's clock is; the status bar flags it."""
    await expect(page.locator("#status-bar .status-clock")).to_have_text("Jam ponsel salah")
    await go(page, "#/sync")
    notice = page.locator("#clock-notice")
    await expect(notice).to_contain_text(f"Jam di ponsel ini {amount} {direction} dari server")
    await expect(notice).to_contain_text("Waktu catatan memakai jam server")


async def phone_with_the_right_date(open_app: Any, server: Server) -> tuple[App, PushLog, int]:
    """slamet's phone, logged in while its date is right (offset 0), with its pushes watched, and
    the warehouse's expected count of STOCK_ITEM."""
    app = await open_app("slamet")
    await app.context.clock.install(time=time.time())
    pushes = watch_pushes(app)
    await login(app, "slamet")
    assert near(await phone_meta(app.page, "clock_offset_ms"), 0, MINUTE_MS)
    with server.api("slamet") as api:
        expected = api.pull_all()[f"sl.{WAREHOUSE}.{STOCK_ITEM}"]["fields"]["expected"]
    return app, pushes, int(expected)


async def test_phone_days_ahead_stamps_by_the_server_clock(open_app, server: Server) -> None:
    """The phone's date is 3 days ahead. After logging in (online) it knows the offset, so an
    incident reported offline is stamped, dated and numbered by the server's clock: the push is
    accepted as it is (no clock_ahead), and the officer is told the phone's clock is off."""
    app = await open_app("slamet")
    await app.context.clock.install(time=time.time() + 3 * 24 * 3600)
    pushes = watch_pushes(app)
    await login(app, "slamet")
    page = app.page
    offset = await phone_meta(page, "clock_offset_ms")
    assert near(offset, -3 * DAY_MS, MINUTE_MS), offset

    app.link.refuse()
    incident_id = await report_incident(page, description="Gembok pintu samping rusak")
    [entry] = await phone_outbox(page)
    assert near(stamp_ms(entry["hlc"]), real_ms()), entry["hlc"]
    # The record id (UUIDv7) carries server time too.
    assert near(int(incident_id.replace("-", "")[:12], 16), real_ms())

    app.link.restore()
    await wait_synced(page)
    assert [p["status"] for p in await heard(page, pushes, 1)] == [200], pushes
    stored = server_record(server, incident_id)
    assert stored["stamps"], stored
    for field, stamp in stored["stamps"].items():
        assert near(stamp_ms(stamp), real_ms()), (field, stamp)
    assert near(iso_ms(stored["fields"]["occurred_at"]), real_ms()), stored["fields"]["occurred_at"]
    # The phone's hybrid clock follows the server's, not its own date.
    assert near((await phone_meta(page, "hlc"))["ms"], real_ms())

    await shows_clock_notice(page, amount="3 hari", direction="lebih cepat")
    await app.screenshot("phone-clock-ahead-notice")


async def test_phone_days_behind_dates_offline_edits_by_the_server_clock(open_app, server: Server) -> None:
    """The phone's date is 2 days behind. Offline, half an hour passes (on the phone: the test
    cannot move the server's clock, so the phone's clock runs 30 minutes ahead of the real one
    while the server's stays put). The incident then reported is stamped and dated "real time +
    30 min", as the server's clock says by then; the hybrid clock alone would keep the stamp of the
    last sync, and `occurred_at` would be 2 days in the past."""
    app = await open_app("slamet")
    await app.context.clock.install(time=time.time() - 2 * 24 * 3600)
    await login(app, "slamet")
    page = app.page
    offset = await phone_meta(page, "clock_offset_ms")
    assert near(offset, 2 * DAY_MS, MINUTE_MS), offset
    last_sync_stamp = (await phone_meta(page, "hlc"))["ms"]
    assert near(last_sync_stamp, real_ms())

    app.link.refuse()
    await app.context.clock.fast_forward("30:00")
    later = real_ms() + 30 * MINUTE_MS
    incident_id = await report_incident(page, description="Atap gudang bocor di atas rak 2")
    [entry] = await phone_outbox(page)
    assert near(stamp_ms(entry["hlc"]), later), (entry["hlc"], later)
    assert stamp_ms(entry["hlc"]) > last_sync_stamp + 25 * MINUTE_MS

    app.link.restore()
    await wait_synced(page)
    stored = server_record(server, incident_id)
    assert near(iso_ms(stored["fields"]["occurred_at"]), later), stored["fields"]["occurred_at"]
    for field, stamp in stored["stamps"].items():
        assert near(stamp_ms(stamp), later), (field, stamp)

    await shows_clock_notice(page, amount="2 hari", direction="lebih lambat")


async def test_future_stamps_refused_then_restamped_and_sent_once(open_app, server: Server) -> None:
    """The phone's date was right when it last synced, then jumped 3 days ahead while offline
    (the offset it knows is stale), so the edits queued after the jump carry stamps 3 days in the
    future. The first push is refused 400 clock_ahead, nothing applied; the phone takes the server's
    clock from the refusal, stamps every unanswered mutation again in order, and the immediate retry
    applies them: each edit reaches the server exactly once, stamped by the server's clock. The
    times it wrote into records by the wrong date (when the incident happened, when the stock was
    counted) move back with the stamps; one written before the jump stays as it was."""
    app, pushes, expected = await phone_with_the_right_date(open_app, server)
    app.allow_console(r"Failed to load resource: the server responded with a status of 400")
    page = app.page

    app.link.refuse()
    before_jump = await report_incident(page, description="Lampu lorong padam sebelum tengah malam")
    await app.context.clock.set_system_time(time.time() + 3 * 24 * 3600)
    description = "Jendela belakang gudang pecah"
    incident_id = await report_incident(page, description=description)
    await count_stock(page, STOCK_ITEM, expected - 1)
    early, *queued = await phone_outbox(page)
    assert early["id"] == before_jump and near(stamp_ms(early["hlc"]), real_ms()), early
    assert len(queued) >= 2
    assert all(near(stamp_ms(e["hlc"]), real_ms() + 3 * DAY_MS) for e in queued), queued

    sent_before = len(pushes)
    app.link.restore()
    await wait_synced(page)
    refused, retry, *_ = (await heard(page, pushes, sent_before + 2))[sent_before:]
    assert refused["status"] == 400 and refused["body"]["code"] == "clock_ahead", refused
    assert refused["body"]["at_seq"] == queued[0]["seq"]
    assert refused["mutations"][0]["seq"] == early["seq"]
    assert retry["status"] == 200, retry
    # The same mutations under the same numbers, stamped again in order by the server's clock.
    assert [m["seq"] for m in retry["mutations"]] == [m["seq"] for m in refused["mutations"]]
    assert [m["id"] for m in retry["mutations"]] == [m["id"] for m in refused["mutations"]]
    stamps = [m["hlc"] for m in retry["mutations"]]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), stamps
    assert all(near(stamp_ms(s), real_ms()) for s in stamps), stamps
    assert all(r["status"] == "applied" for r in retry["body"]["results"]), retry["body"]

    # Exactly once on the server, with the server's times, in the stamps and in the records.
    assert server_copies(server, "incidents", description=description) == [incident_id]
    counts = server_copies(server, "stock_counts", item_type=STOCK_ITEM, counted=expected - 1)
    assert len(counts) == 1, counts
    for record_id in (before_jump, incident_id, counts[0]):
        for field, stamp in server_record(server, record_id)["stamps"].items():
            assert near(stamp_ms(stamp), real_ms()), (record_id, field, stamp)
    for record_id, field in (
        (before_jump, "occurred_at"),
        (incident_id, "occurred_at"),
        (counts[0], "counted_at"),
    ):
        written = server_record(server, record_id)["fields"][field]
        assert near(iso_ms(written), real_ms()), (record_id, field, written)
    # And on the phone, which shows the server's records once it has pulled them.
    local = await local_record(page, incident_id)
    assert local and near(iso_ms(local["fields"]["occurred_at"]), real_ms()), local

    # The phone's clock follows the server's from now on: the next edit is accepted at once.
    assert near(await phone_meta(page, "clock_offset_ms"), -3 * DAY_MS, MINUTE_MS)
    assert near((await phone_meta(page, "hlc"))["ms"], real_ms())
    sent_before = len(pushes)
    await count_stock(page, STOCK_ITEM, expected)
    await wait_synced(page)
    assert [p["status"] for p in (await heard(page, pushes, sent_before + 1))[sent_before:]] == [200]
    await shows_clock_notice(page, amount="3 hari", direction="lebih cepat")


async def test_date_gone_back_after_sync_moves_the_times_written_since(open_app, server: Server) -> None:
    """The phone's date was right when it last synced, then went 2 days back while offline. Its
    clock stamps do not go back (the hybrid clock), so the server would take the edits as they are,
    with an incident "happening" and a count "made" 2 days before they were. Back online, the phone
    sees its wall clock behind its own last stamp, pulls first to learn the server's time, and moves
    the times written since the jump forward before pushing; one written before the jump stays."""
    app, pushes, expected = await phone_with_the_right_date(open_app, server)
    page = app.page

    app.link.refuse()
    before_jump = await report_incident(page, description="Segel pintu utama diperiksa, utuh")
    await app.context.clock.set_system_time(time.time() - 2 * 24 * 3600)
    incident_id = await report_incident(page, description="Kabel CCTV lantai 4 terlepas")
    await count_stock(page, STOCK_ITEM, expected + 1)
    counts = [e for e in await phone_outbox(page) if e["collection"] == "stock_counts"]
    assert counts, "the count was not queued"

    sent_before = len(pushes)
    app.link.restore()
    await wait_synced(page)
    assert all(p["status"] == 200 for p in (await heard(page, pushes, sent_before + 1))[sent_before:]), pushes
    for record_id, field in (
        (before_jump, "occurred_at"),
        (incident_id, "occurred_at"),
        (counts[0]["id"], "counted_at"),
    ):
        stored = server_record(server, record_id)
        assert near(iso_ms(stored["fields"][field]), real_ms()), (record_id, field, stored["fields"])
        # The clock stamps did not go back with the date (a hybrid clock never does).
        for name, stamp in stored["stamps"].items():
            assert near(stamp_ms(stamp), real_ms()), (record_id, name, stamp)
    assert near(await phone_meta(page, "clock_offset_ms"), 2 * DAY_MS, MINUTE_MS)
    await shows_clock_notice(page, amount="2 hari", direction="lebih lambat")


CORRECT_TIMES_BEHIND = """async ({ entries, shiftMs, serverNowMs }) => {
  const { loadSession } = await import('/js/session.js');
  const { openUserDb } = await import('/js/db.js');
  const { correctTimesBehind } = await import('/js/outbox.js');
  const session = await loadSession();
  const db = await openUserDb(session.userId);
  await db.tx('outbox', 'readwrite', async ({ outbox }) => {
    for (const entry of entries) await outbox.put(entry);
  });
  const changed = await correctTimesBehind(db, shiftMs, serverNowMs);
  const after = await Promise.all(entries.map((entry) => db.get('outbox', entry.seq)));
  db.close();
  return { changed, times: after.map((entry) => entry.fields.occurred_at) };
}"""


async def test_times_moved_forward_are_only_those_written_after_the_date_went_back(open_app) -> None:
    """correctTimesBehind tells a time written after the phone's date went back by its distance from
    its entry's own clock stamp, which never goes back, and moves it by the jump. A time written
    before the jump stays, even when its stamp ran ahead of real time (a server clock that another
    phone pulled 50 minutes ahead): moved by the jump it would land in the future."""
    app = await open_app("slamet")
    await login(app, "slamet")
    app.link.refuse()  # the crafted entries must not be pushed
    now = real_ms()

    def entry(seq: int, occurred: int, stamp: int) -> dict[str, Any]:
        return {
            "seq": 10_000 + seq,
            "id": f"inc-clock-{seq}",
            "collection": "incidents",
            "op": "create",
            "state": "pending",
            "attempts": 0,
            "hlc": f"{stamp:013d}-00000-dev-test",
            "fields": {"description": f"uji {seq}", "occurred_at": iso(occurred)},
        }

    entries = [
        entry(1, now - 2 * DAY_MS, now),  # after the jump: 2 days behind its stamp
        entry(2, now - 10 * MINUTE_MS, now + 40 * MINUTE_MS),  # before it, stamp pulled ahead
        entry(3, now - 20 * MINUTE_MS, now - 20 * MINUTE_MS),  # before it, plain
    ]
    got = await app.page.evaluate(
        CORRECT_TIMES_BEHIND, {"entries": entries, "shiftMs": 2 * DAY_MS, "serverNowMs": now}
    )
    assert got["changed"] == 1, got
    assert [iso_ms(t) for t in got["times"]] == [now, now - 10 * MINUTE_MS, now - 20 * MINUTE_MS], got


SUPERVISOR_PUSH = """async ({ password, warehouse }) => {
  const { createHttp } = await import('/supervisor/js/http.js');
  const { createPusher } = await import('/supervisor/js/push.js');
  const { uuid7 } = await import('/js/uuid7.js');
  const login = await createHttp(() => null).post('/api/auth/login', {
    username: 'rina', password, device_name: 'laptop', client_id: 'sup-clocktest',
  });
  const session = { token: login.token, clientId: 'sup-clocktest' };
  const push = createPusher(session, createHttp(() => session.token));
  const id = uuid7();
  const result = await push({
    id, collection: 'incidents', op: 'create', warehouseId: warehouse,
    fields: { category: 'segel_rusak', severity: 'sedang', description: 'Dicatat dari laptop' },
  });
  return { id, result, session };
}"""


async def test_supervisor_page_with_a_computer_days_ahead_recovers_from_clock_ahead(
    open_app, server: Server
) -> None:
    """The supervisor pages push decisions like a phone (static/supervisor/js/push.js). On a
    computer whose date is 3 days ahead, the first push is refused clock_ahead; the page takes the
    server's clock from the refusal, stamps the mutation again and its retry is applied, once."""
    app = await open_app("laptop")
    app.allow_console(r"Failed to load resource: the server responded with a status of 400")
    await app.context.clock.install(time=time.time() + 3 * 24 * 3600)
    pushes = watch_pushes(app)
    await app.page.goto(f"{server.base_url}/supervisor/")
    done = await app.page.evaluate(SUPERVISOR_PUSH, {"password": PASSWORD, "warehouse": WAREHOUSE})
    assert done["result"]["status"] == "applied", done
    assert [p["status"] for p in await heard(app.page, pushes, 2)] == [400, 200], pushes
    assert pushes[0]["body"]["code"] == "clock_ahead"
    assert [m["seq"] for m in pushes[1]["mutations"]] == [m["seq"] for m in pushes[0]["mutations"]]
    for field, stamp in server_record(server, done["id"])["stamps"].items():
        assert near(stamp_ms(stamp), real_ms()), (field, stamp)
    # The session keeps the offset: the next push is stamped right from the start.
    assert near(done["session"]["clockOffset"], -3 * DAY_MS, MINUTE_MS)
