"""The evidence rules of issue 15, one test per numbered finding, through the real app and database
(both backends: run with `--backend postgres` for the PostgreSQL half).

Each test replays the finding as black-box HTTP with users like the demo's: officers of Polri and TNI
at Johar Baru, an officer of another warehouse, supervisors of Polri and KPU.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from server.retention import purge_tombstones
from server.seed import load_template
from server.storage import Storage
from sync import digest
from sync.domain import Template, answer_field
from tests.factories import Factory, bearer
from tests.server.test_report_pdf import texts
from tests.server.test_sync_api import Device

PHOTO = hashlib.sha256(b"foto segel").hexdigest()
SEAL = "KPU-JB 004217"
INCIDENT = {"category": "segel_rusak", "severity": "sedang", "description": "Segel pintu belakang sobek"}


class World:
    """Johar Baru (JB) with its officers and supervisors, Kemayoran (KM) and Cempaka Putih (CP)."""

    def __init__(self, client: httpx.AsyncClient, template: Template) -> None:
        self.client = client
        self.template = template
        self.jb = self.km = self.cp = ""
        self.users: dict[str, Any] = {}
        self.devices: dict[str, Device] = {}
        self.revisions: dict[str, int] = {}

    def __getitem__(self, name: str) -> Device:
        return self.devices[name]

    async def push(
        self, who: str, op: str, rid: str, collection: str = "incidents", **kw: Any
    ) -> dict[str, Any]:
        """One mutation from `who`'s phone, based on the revision that phone last saw of the record."""
        device = self.devices[who]
        kw.setdefault("base_rev", self.revisions.get(f"{who}:{rid}", 0))
        response = await device.push([device.mutation(op, rid, collection, **kw)])
        assert response.status_code == 200, response.text
        [result] = response.json()["results"]
        if result.get("revision"):
            self.revisions[f"{who}:{rid}"] = result["revision"]
        return dict(result)

    async def record(self, who: str, rid: str) -> dict[str, Any]:
        """The record as `who`'s phone pulls it (and that phone's base for its next edit)."""
        pulled = await self.devices[who].pull(limit=5000)
        [change] = [c for c in pulled["changes"] if c["id"] == rid]
        self.revisions[f"{who}:{rid}"] = change["revision"]
        return dict(change)

    async def get(self, who: str, path: str, **params: Any) -> Any:
        response = await self.client.get(path, params=params, headers=bearer(self.devices[who].token))
        assert response.status_code == 200, response.text
        return response.json() if "json" in response.headers.get("content-type", "") else response.content

    def answers(self, **overrides: Any) -> dict[str, Any]:
        """A complete, clean set of answers to the seeded checklist (nothing is a finding)."""
        fields: dict[str, Any] = {}
        for item in self.template.items():
            if item.kind == "yes_no":
                value: Any = "tidak" if "ya" in item.finding_if else "ya"
            elif item.kind == "choice":
                value = next(c for c in item.choices if c not in item.finding_if)
            elif item.kind == "number":
                value = 356 if item.stock_item == "kotak_suara" else 0 if item.expected == 0 else 4
            elif item.kind == "seal":
                value = SEAL
            elif item.kind == "photo":
                value = [PHOTO]
            else:
                value = "Ahmad Fauzi (PPK)"
            if item.required or item.stock_item == "kotak_suara":
                fields[answer_field(item)] = value
        fields.pop("a.jumlah_bilik_suara", None)  # no stock level for it here: leave it out
        fields["a.jumlah_bilik_suara"] = 4
        return {**fields, **overrides}

    async def inspection(self, who: str, rid: str, *, co: list[str] = (), **answers: Any) -> dict[str, Any]:  # type: ignore[assignment]
        fields = {"template_id": self.template.id, "shift": "pagi", **self.answers(**answers)}
        if co:
            fields["co_inspectors"] = [self.users[c].id for c in co]
        return await self.push(who, "create", rid, "inspections", warehouse_id=self.jb, fields=fields)


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Factory) -> World:
    await factory.reference_data()
    w = World(client, load_template())
    jb, km, cp = await factory.warehouse(), await factory.warehouse(), await factory.warehouse()
    w.jb, w.km, w.cp = jb.id, km.id, cp.id
    people = {
        "slamet": dict(agency="POLRI", warehouses=[jb]),
        "agus": dict(agency="POLRI", warehouses=[jb]),
        "joko": dict(agency="TNI", warehouses=[jb]),
        "yuli": dict(agency="KPU", warehouses=[jb]),
        "bambang": dict(agency="TNI", warehouses=[cp]),
        "andi": dict(agency="POLRI", warehouses=[km]),
        "hendra": dict(agency="POLRI", role="supervisor", warehouses=[jb, cp]),
        "rina": dict(agency="KPU", role="supervisor", warehouses=[jb, cp, km]),
    }
    for name, kw in people.items():
        user = await factory.user(username=name, **kw)  # type: ignore[arg-type]
        client_id = f"hp-{name}-{user.id[:8]}"
        w.users[name] = user
        w.devices[name] = Device(client, await factory.token(user, client_id=client_id), client_id)
    level = f"sl.{jb.id}.kotak_suara"
    created = await w.push(
        "rina", "create", level, "stock_levels", warehouse_id=jb.id,
        fields={"item_type": "kotak_suara", "expected": {"delta": 356}},
    )  # fmt: skip
    assert created["status"] == "applied", created
    return w


def refused(result: dict[str, Any], code: str, *mentions: str) -> None:
    assert result["status"] == "rejected" and result["code"] == code, result
    for text in mentions:
        assert text in result["message"], result


# -- 1. forged signatories ----------------------------------------------------------------------------


async def test_finding1_co_inspectors_are_assigned_officers_who_sign_only_after_confirming(
    world: World,
) -> None:
    # Listing a TNI officer of another warehouse, a supervisor, an officer of Kemayoran: refused.
    for outsider in ("bambang", "hendra", "andi"):
        result = await world.inspection("slamet", f"ins-{outsider}", co=[outsider])
        refused(result, "invalid_value", "co_inspectors")
    listed = await world.inspection("slamet", "ins-1", co=["joko", "agus"])
    assert listed["status"] == "applied"
    # Nobody confirms for someone else: not the inspector, not an officer who is not listed.
    refused(await world.push("slamet", "confirm", "ins-1", "inspections"), "forbidden")
    refused(await world.push("yuli", "confirm", "ins-1", "inspections"), "forbidden")
    assert (await world.push("joko", "confirm", "ins-1", "inspections"))["status"] == "applied"
    record = await world.record("rina", "ins-1")
    confirmed = record["fields"]["confirmations"]
    assert set(confirmed) == {world.users["joko"].id}
    assert confirmed[world.users["joko"].id]["agency"] == "TNI"
    assert confirmed[world.users["joko"].id]["client_id"] == world["joko"].client_id
    # The berita acara shows per agency who confirmed and when, and who did not yet.
    pdf = await world.get("rina", "/api/inspections/ins-1/report.pdf")
    text = " ".join(" ".join(texts(pdf)).split())
    assert "dikonfirmasi" in text and "belum konfirmasi" in text
    assert world.users["agus"].full_name in text and world.users["joko"].full_name in text
    for outsider in ("bambang", "hendra", "andi"):
        assert world.users[outsider].full_name not in text


# -- 2. the phone chooses what its count is compared with ---------------------------------------------


async def test_finding2_a_counts_expected_quantity_is_the_servers_stock_level(world: World) -> None:
    count = {"item_type": "kotak_suara", "counted": 300}
    forged = await world.push("slamet", "create", "sc-1", "stock_counts", warehouse_id=world.jb,
                              fields={**count, "expected": 300})  # fmt: skip
    refused(forged, "read_only_field", "expected")
    assert (
        await world.push("slamet", "create", "sc-2", "stock_counts", warehouse_id=world.jb, fields=count)
    )["status"] == "applied"
    assert (await world.record("slamet", "sc-2"))["fields"]["expected"] == 356
    exported = (await world.get("rina", "/api/exports/stock_counts.csv", form="raw")).decode("utf-8-sig")
    [row] = [r for r in csv.DictReader(io.StringIO(exported)) if r["id"] == "sc-2"]
    assert row["expected"] == "356" and row["counted"] == "300"
    # Counts are non-negative and bounded; a movement never takes a level out of its bounds.
    for bad in (-5, 2**63, 2**53 + 1):
        result = await world.push("slamet", "create", f"sc-{bad}", "stock_counts", warehouse_id=world.jb,
                                  fields={**count, "counted": bad})  # fmt: skip
        refused(result, "invalid_value", "counted")
    level = f"sl.{world.jb}.kotak_suara"
    for delta in (2**62, -357):
        moved = await world.push(
            "rina", "patch", level, "stock_levels", fields={"expected": {"delta": delta}}
        )
        refused(moved, "invalid_value")
    assert (await world.record("rina", level))["fields"]["expected"] == 356


# -- 3. answers not checked against their checklist item ----------------------------------------------


async def test_finding3_answers_are_checked_against_the_template_and_normalised(world: World) -> None:
    assert (await world.inspection("slamet", "ins-1"))["status"] == "applied"
    bad = {
        "a.segel_pintu_utuh": ("mungkin", "invalid_value"),
        "a.personel_hadir": ("tiga", "invalid_value"),
        "a.jumlah_kotak_suara": ("300", "invalid_value"),
        "a.kondisi_listrik": ("meledak", "invalid_value"),
        "a.no_such_item": ("ya", "unknown_field"),
        "p.foto_segel_pintu": (["not-a-hash"], "invalid_value"),
        "a.personel_hadir ": ("3", "unknown_field"),
    }
    for field, (value, code) in bad.items():
        result = await world.push("slamet", "patch", "ins-1", "inspections", fields={field: value})
        refused(result, code, field.split(".", 1)[1].strip())
    refused(await world.push("slamet", "patch", "ins-1", "inspections", fields={"a.personel_hadir": 2.5}),
            "invalid_value", "personel_hadir")  # fmt: skip
    # Invisible characters and letter case do not hide a finding: stored normalised, flagged at submit.
    tricky = {
        "a.segel_pintu_utuh": "tidak\u200b",
        "a.gembok_utuh": " TIDAK ",
        "a.nomor_segel_pintu": "kpu-jb\t004217",
    }
    assert (await world.push("slamet", "patch", "ins-1", "inspections", fields=tricky))["status"] == "applied"
    assert (await world.push("slamet", "submit", "ins-1", "inspections"))["status"] == "applied"
    fields = (await world.record("rina", "ins-1"))["fields"]
    assert fields["a.segel_pintu_utuh"] == "tidak" and fields["a.gembok_utuh"] == "tidak"
    assert fields["a.nomor_segel_pintu"] == SEAL
    assert {"segel_pintu_utuh", "gembok_utuh"} <= set(fields["findings"])
    # An inspection of an unknown template cannot be created at all.
    result = await world.push("slamet", "create", "ins-x", "inspections", warehouse_id=world.jb,
                              fields={"template_id": "no-such-template"})  # fmt: skip
    refused(result, "unknown_template")


# -- 4. incidents --------------------------------------------------------------------------------------


async def test_finding4_incident_agency_resolved_lock_and_acknowledged_delete(world: World) -> None:
    await world.push(
        "joko", "create", "inc-1", warehouse_id=world.jb, fields={**INCIDENT, "assigned_agency": "KPU"}
    )
    await world.record("slamet", "inc-1")
    # A Polri officer cannot take over an incident assigned to KPU to resolve it himself.
    refused(await world.push("slamet", "patch", "inc-1", fields={"assigned_agency": "POLRI"}), "forbidden")
    refused(await world.push("slamet", "resolve", "inc-1"), "forbidden")
    assert (await world.push("yuli", "acknowledge", "inc-1"))["status"] == "applied"
    assert (await world.push("yuli", "resolve", "inc-1", fields={"resolution": "Segel diganti"}))[
        "status"
    ] == "applied"
    # Resolved: locked for everyone, until a supervisor reopens it.
    await world.record("slamet", "inc-1")
    await world.record("rina", "inc-1")
    refused(await world.push("slamet", "patch", "inc-1", fields={"severity": "rendah"}), "incident_locked")
    refused(await world.push("rina", "patch", "inc-1", fields={"description": "lain"}), "incident_locked")
    assert (await world.push("rina", "reopen", "inc-1"))["status"] == "applied"
    assert (await world.push("rina", "patch", "inc-1", fields={"assigned_agency": "POLRI"}))[
        "status"
    ] == "applied"
    # Acknowledged: its reporter (or anyone) cannot make it disappear.
    await world.push("agus", "create", "inc-2", warehouse_id=world.jb, fields=INCIDENT)
    await world.push("yuli", "acknowledge", "inc-2")
    await world.record("agus", "inc-2")
    await world.record("rina", "inc-2")
    refused(await world.push("agus", "delete", "inc-2"), "incident_acknowledged")
    refused(await world.push("rina", "delete", "inc-2"), "incident_acknowledged")
    listed = await world.get("rina", "/api/supervisor/incidents", warehouse_id=world.jb)
    assert "inc-2" in {row["id"] for row in listed}
    exported = (await world.get("rina", "/api/exports/incidents.csv", form="raw")).decode("utf-8-sig")
    assert "inc-2" in exported


# -- 5. inspections: four eyes, locked once reviewed ---------------------------------------------------


async def test_finding5_nobody_reviews_their_own_inspection_or_deletes_a_reviewed_one(world: World) -> None:
    # Supervisor hendra creates, submits and tries to review his own inspection.
    fields = {"template_id": world.template.id, **world.answers()}
    await world.push("hendra", "create", "ins-h", "inspections", warehouse_id=world.jb, fields=fields)
    assert (await world.push("hendra", "submit", "ins-h", "inspections"))["status"] == "applied"
    refused(await world.push("hendra", "review", "ins-h", "inspections"), "four_eyes")
    refused(await world.push("hendra", "request_changes", "ins-h", "inspections", fields={"comment": "x"}),
            "four_eyes")  # fmt: skip
    assert (await world.push("rina", "review", "ins-h", "inspections"))["status"] == "applied"
    # A reviewed inspection is locked: not even a supervisor deletes it through sync.
    await world.record("hendra", "ins-h")
    refused(await world.push("hendra", "delete", "ins-h", "inspections"), "inspection_locked")
    await world.record("rina", "ins-h")
    refused(await world.push("rina", "delete", "ins-h", "inspections"), "inspection_locked")
    exported = (await world.get("rina", "/api/exports/inspections.csv", form="raw")).decode("utf-8-sig")
    assert "ins-h" in exported
    # An incident's reporter neither acknowledges nor resolves it.
    await world.push("hendra", "create", "inc-h", warehouse_id=world.jb, fields=INCIDENT)
    refused(await world.push("hendra", "acknowledge", "inc-h"), "four_eyes")
    refused(await world.push("hendra", "resolve", "inc-h"), "four_eyes")


# -- 6. the overview hides open findings ---------------------------------------------------------------


async def test_finding6_a_clean_inspection_after_a_bad_one_hides_nothing(world: World) -> None:
    await world.inspection("slamet", "ins-bad", **{"a.segel_pintu_utuh": "tidak", "a.gembok_utuh": "tidak"})
    count = {"item_type": "kotak_suara", "counted": 350, "damaged_light": 2, "inspection_id": "ins-bad"}
    await world.push("slamet", "create", "sc-bad", "stock_counts", warehouse_id=world.jb, fields=count)
    assert (await world.push("slamet", "submit", "ins-bad", "inspections"))["status"] == "applied"
    await world.inspection("joko", "ins-clean")
    assert (await world.push("joko", "submit", "ins-clean", "inspections"))["status"] == "applied"
    clean = {"item_type": "kotak_suara", "counted": 356, "inspection_id": "ins-clean"}
    await world.push("joko", "create", "sc-clean", "stock_counts", warehouse_id=world.jb, fields=clean)

    overview = await world.get("rina", "/api/supervisor/overview")
    [jb] = [w for w in overview["warehouses"] if w["warehouse"]["id"] == world.jb]
    assert {"segel_pintu_utuh", "gembok_utuh"} <= set(jb["open_findings"])
    assert "findings" in jb["flags"] and "stock" in jb["flags"]
    [boxes] = [ln for ln in await world.get("rina", "/api/supervisor/stock", warehouse_id=world.jb)
               if ln["item_type"] == "kotak_suara"]  # fmt: skip
    assert boxes["last"]["value"] == 356 and boxes["discrepancy"]
    [short] = boxes["open_counts"]
    assert short["record_id"] == "sc-bad" and short["difference"] == -6 and short["damaged_light"] == 2
    assert short["by"] == world.users["slamet"].id and short["at"]
    assert boxes["damaged_light"] == 2  # joko's later count said nothing of damage: slamet's stays shown
    assert {c["record_id"] for c in boxes["history"]} >= {"sc-bad", "sc-clean"}
    # Reviewed (by someone who did not write it): the findings are settled, nothing else is hidden.
    assert (await world.push("hendra", "review", "ins-bad", "inspections"))["status"] == "applied"
    assert (await world.push("hendra", "review", "ins-clean", "inspections"))["status"] == "applied"
    overview = await world.get("rina", "/api/supervisor/overview")
    [jb] = [w for w in overview["warehouses"] if w["warehouse"]["id"] == world.jb]
    assert jb["open_findings"] == [] and "stock" not in jb["flags"]


# -- 7. contradicting evidence resolved silently -------------------------------------------------------


async def test_finding7_contradicting_descriptions_become_a_conflict_that_needs_a_decision(
    world: World,
) -> None:
    await world.push("slamet", "create", "inc-1", warehouse_id=world.jb, fields=INCIDENT)
    base = (await world.record("joko", "inc-1"))["revision"]
    first = await world.push("slamet", "patch", "inc-1", fields={"description": "ada bekas cungkil di kusen"})
    assert first["status"] == "applied"
    second = await world.push(
        "joko", "patch", "inc-1", base_rev=base, fields={"description": "tidak ada tanda dicungkil"}
    )
    assert second["status"] == "conflict" and len(second["conflicts"]) == 1
    record = await world.record("joko", "inc-1")
    # The first account stays in force until a supervisor decides; the result names the record's
    # revision (what joko's next edit is based on), not the conflict record's.
    assert record["fields"]["description"] == "ada bekas cungkil di kusen"
    assert second["revision"] == record["revision"]
    pulled = await world["slamet"].pull(limit=5000)
    [conflict] = [c for c in pulled["changes"] if c["collection"] == "conflicts"]
    f = conflict["fields"]
    assert f["status"] == "open" and f["winner"] == "server" and f["field"] == "description"
    assert f["server_by"] == world.users["slamet"].id and f["client_by"] == world.users["joko"].id
    assert f["client_value"] == "tidak ada tanda dicungkil"
    # joko's next edit, based on the revision the conflict result gave him, is not refused.
    follow_up = await world.push(
        "joko", "patch", "inc-1", base_rev=second["revision"], fields={"title": "Kusen"}
    )
    assert follow_up["status"] == "applied"


# -- 8. the smaller holes ------------------------------------------------------------------------------


async def test_finding8_out_of_scope_mutations_stay_with_the_pushing_device(
    world: World, sql_rows: Any
) -> None:
    fake = {
        **INCIDENT,
        "category": "kebakaran",
        "severity": "kritis",
        "description": "KEBAKARAN! evakuasi " * 60_000,
    }
    refused(
        await world.push("slamet", "create", "inc-fake", warehouse_id=world.km, fields=fake), "out_of_scope"
    )
    [(home, size)] = sql_rows(
        "SELECT warehouse_id, length(mutation) FROM outcomes WHERE client_id = ?", world["slamet"].client_id
    )
    assert home is None and int(str(size)) < 20_000  # bounded, and filed under no warehouse
    queue = await world.get("rina", "/api/supervisor/conflicts", warehouse_id=world.km)
    assert queue["rejected"] == []
    trail = await world.get("rina", "/api/supervisor/audit", warehouse_id=world.km)
    assert all("inc-fake" not in json.dumps(e) for e in trail["entries"])
    # Scope is checked before existence: another warehouse's id is answered out_of_scope whatever
    # collection or operation the mutation names.
    await world.push("slamet", "create", "inc-jb", warehouse_id=world.jb, fields=INCIDENT)
    refused(await world.push("andi", "patch", "inc-jb", "inspections", fields={}), "out_of_scope")
    refused(
        await world.push("andi", "create", "inc-jb", warehouse_id=world.jb, fields=INCIDENT), "out_of_scope"
    )


async def test_finding8_an_edit_after_a_delete_is_checked_like_any_edit(world: World) -> None:
    await world.push("slamet", "create", "inc-1", warehouse_id=world.jb, fields=INCIDENT)
    base = (await world.record("joko", "inc-1"))["revision"]
    assert (await world.push("slamet", "delete", "inc-1"))["status"] == "applied"
    for bad in ({"description": {"teks": "objek"}}, {"severity": ["tinggi"]}):
        refused(await world.push("joko", "patch", "inc-1", base_rev=base, fields=bad), "invalid_value")
    kept = await world.push(
        "joko", "patch", "inc-1", base_rev=base, fields={"description": " Segel\u200b diganti "}
    )
    assert kept["status"] == "conflict"
    await world["rina"].pull()
    decided = await world.push("rina", "resolve", kept["conflicts"][0], "conflicts", fields={"value": False})
    assert decided["status"] == "applied"
    record = await world.record("rina", "inc-1")
    assert not record.get("deleted") and record["fields"]["description"] == "Segel diganti"


async def test_finding8_duplicate_append_ids_in_one_mutation_are_one_entry(world: World) -> None:
    notes = [{"id": "n1", "text": "Lapor KPU"}, {"id": "n1", "text": "Lapor KPU (lagi)"}]
    await world.push("slamet", "create", "inc-1", warehouse_id=world.jb, fields={**INCIDENT, "notes": notes})
    await world.push(
        "slamet", "patch", "inc-1", fields={"notes": [{"id": "n2", "text": "a"}, {"id": "n2", "text": "b"}]}
    )
    entries = (await world.record("slamet", "inc-1"))["fields"]["notes"]
    assert [(e["id"], e["text"]) for e in entries] == [("n1", "Lapor KPU"), ("n2", "a")]


async def test_finding8_a_purge_keeps_up_to_date_phones_in_agreement(world: World, storage: Storage) -> None:
    await world.push("slamet", "create", "inc-1", warehouse_id=world.jb, fields=INCIDENT)
    await world.push("slamet", "delete", "inc-1")
    joko = world["joko"]
    held: dict[str, int] = {}
    deleted: set[str] = set()
    first = await joko.pull(limit=5000)
    for change in first["changes"]:
        held[change["id"]] = change["revision"]
        if change.get("deleted"):
            deleted.add(change["id"])
    assert "inc-1" in deleted
    report = await purge_tombstones(
        storage, older_than_days=1, actor_id="admin", now=datetime.now(UTC) + timedelta(days=2)
    )
    assert report.purged == ["inc-1"]
    # joko is up to date (his cursor is past the horizon): no reset, but he is told the horizon,
    # drops the tombstones at or below it, and his digest agrees with the server's.
    again = await joko.pull(first["cursors"], limit=5000)
    assert again["reset"] == [] and again["tombstone_horizons"][world.jb] >= held["inc-1"]
    horizon = again["tombstone_horizons"][world.jb]
    local = digest.compute(
        [(rid, rev) for rid, rev in held.items() if not (rid in deleted and rev <= horizon)]
    )
    assert again["digests"][world.jb] == {"count": local.count, "checksum": local.checksum}


async def test_finding8_counter_deltas_stay_inside_what_a_phone_can_hold(world: World) -> None:
    level = f"sl.{world.jb}.kotak_suara"
    for delta in (2**53, 2**53 - 356):
        moved = await world.push(
            "rina", "patch", level, "stock_levels", fields={"expected": {"delta": delta}}
        )
        refused(moved, "invalid_value")
    assert (await world.record("rina", level))["fields"]["expected"] == 356
