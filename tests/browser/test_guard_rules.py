"""The phone's guard-post rules (static/js/guard.js) agree with the server's (sync/roster.py).

The phone checks them only to help the officer (a late check-in said before it is sent, which
shift takes over, whether a handover can still change), but an officer told "on time" whom the
server then flags late, or a handover offered to the wrong incoming shift, is a phone that lies.
Several hundred cases, boundaries included, run through both and must come out the same."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from sync import roster
from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser]

MINUTE_MS = 60_000


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _shift_ids(rng: random.Random) -> list[str]:
    """Shift ids a phone may meet: well formed, near misses, and days that do not exist."""
    ids = [
        "sh.gd-johar-baru.2026-12-07.pagi",
        "sh.gd-johar-baru.2026-12-31.malam",  # hands over into the next year
        "sh.gd.a.b.2026-02-28.malam",  # dots inside the warehouse id
        "sh.gd-x.2028-02-28.malam",  # a leap year
        "sh.gd-x.2026-02-30.pagi",  # no such day
        "sh.gd-x.2026-13-01.pagi",
        "sh.gd-x.2026-12-07.subuh",  # no such period
        "sh..2026-12-07.pagi",
        "ho.gd-x.2026-12-07.pagi",
        "sh.gd-x.20261207.pagi",
        "sh.gd-x.2026-12-7.pagi",
        "sh.gd-x.2026-12-07.",
        "sh.gd-x",
        "",
    ]
    for _ in range(80):
        day = date(2026, 1, 1) + timedelta(days=rng.randrange(0, 800))
        period = rng.choice([*roster.PERIODS, "subuh"])
        ids.append(roster.shift_id(f"gd-{rng.randrange(1000)}", day, period))
    return ids


def _check_ins(rng: random.Random) -> list[dict[str, Any]]:
    """Check-in moments around the rule's edges: far before, the grace, the end."""
    start = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    end = start + timedelta(hours=8)
    edges = [
        start - timedelta(minutes=roster.FAR_OUTSIDE_MINUTES),
        start + timedelta(minutes=roster.LATE_AFTER_MINUTES),
        start,
        end,
    ]
    moments = [edge + timedelta(milliseconds=d) for edge in edges for d in (-1, 0, 1)]
    moments += [start + timedelta(minutes=rng.uniform(-300, 800)) for _ in range(120)]
    return [{"at": _instant(m), "starts_at": _instant(start), "ends_at": _instant(end)} for m in moments]


HANDOVERS: list[dict[str, Any] | None] = [
    None,
    {},
    {"status": "open"},
    {"confirmations": {}},
    {"confirmations": {"outgoing": {"user": "u1"}}},
    {"confirmations": {"outgoing": {"user": "u1"}, "incoming": {"user": "u2"}}, "status": "confirmed"},
    {"status": "confirmed"},
]


async def test_guard_js_agrees_with_the_server_rules(open_app, server: Server) -> None:
    rng = random.Random(20261207)
    ids = _shift_ids(rng)
    check_ins = _check_ins(rng)
    app = await open_app("guard-rules")
    await app.page.goto(f"{server.base_url}/")
    phone = await app.page.evaluate(
        """async ({ ids, checkIns, handovers }) => {
          const guard = await import('/js/guard.js');
          return {
            parsed: ids.map((id) => guard.parseShiftId(id)),
            following: ids.map((id) => guard.followingShifts(id)),
            flags: checkIns.map((c) => guard.checkInFlag(new Date(c.at).getTime(), { fields: c })),
            states: handovers.map((h) => guard.handoverState(h === null ? null : { fields: h })),
          };
        }""",
        {"ids": ids, "checkIns": check_ins, "handovers": HANDOVERS},
    )

    def parsed(record_id: str) -> dict[str, str] | None:
        found = roster.parse_shift_id(record_id)
        if found is None:
            return None
        warehouse_id, day, period = found
        return {"warehouseId": warehouse_id, "day": day.isoformat(), "period": period}

    disagree = [(i, p, parsed(i)) for i, p in zip(ids, phone["parsed"], strict=True) if p != parsed(i)]
    assert not disagree, f"shift ids read differently (id, phone, server): {disagree}"
    disagree = [
        (i, f, roster.following_shifts(i))
        for i, f in zip(ids, phone["following"], strict=True)
        if f != roster.following_shifts(i)
    ]
    assert not disagree, f"incoming shifts differ (id, phone, server): {disagree}"

    def flag(case: dict[str, Any]) -> str:
        at, start, end = (roster.parse_instant(case[k]) for k in ("at", "starts_at", "ends_at"))
        assert at and start and end
        return roster.check_in_flag(at, start, end)

    disagree = [(c["at"], f, flag(c)) for c, f in zip(check_ins, phone["flags"], strict=True) if f != flag(c)]
    assert not disagree, f"check-in flags differ (at, phone, server): {disagree}"
    # the edges themselves were cases: each flag is met at least once
    assert set(phone["flags"]) == {"", "late", "outside"}
    assert phone["states"] == [roster.handover_state(h) for h in HANDOVERS]
