"""The sync engine's rules, one behaviour per test, on the in-memory store."""

from __future__ import annotations

import msgspec
import pytest

from sync import digest
from sync.clock import HybridClock, parse_hlc
from sync.engine import SyncEngine, stock_level_id
from sync.errors import (
    BatchInvalid,
    ClientMismatch,
    ClockAhead,
    ProtocolMismatch,
    SequenceGap,
    UpgradeRequired,
)
from sync.memory import MemoryStore
from sync.messages import Mutation, PullRequest, PushRequest
from tests.sync.helpers import OTHER_WH, TEMPLATE, WH, Phone, actor, seed_stock

INCIDENT = {"category": "segel_rusak", "severity": "sedang", "description": "Segel pintu belakang sobek"}
SHA = "a" * 64


async def _incident(engine: SyncEngine, *phones: Phone, rid: str = "inc-1") -> None:
    author = phones[0]
    author.mutate("create", rid, "incidents", dict(INCIDENT), warehouse_id=WH)
    await author.sync()
    for phone in phones[1:]:
        await phone.pull()


def _conflicts(phone: Phone) -> list[dict]:
    return [c.fields for c in phone.replica.values() if c.collection == "conflicts"]


async def test_created_record_reaches_colleagues_but_not_other_warehouses(engine: SyncEngine) -> None:
    sari, joko = Phone(engine, actor("sari")), Phone(engine, actor("joko", agency="TNI"))
    senen = Phone(engine, actor("rina", warehouses=(OTHER_WH,)))
    await _incident(engine, sari, joko)
    await senen.pull()
    assert joko.replica["inc-1"].fields["severity"] == "sedang"
    assert joko.replica["inc-1"].fields["status"] == "open"
    assert joko.replica["inc-1"].fields["reported_by"] == "u-sari"
    assert "inc-1" not in senen.replica


async def test_retried_push_is_answered_from_stored_outcomes_and_changes_nothing(
    engine: SyncEngine, store: MemoryStore
) -> None:
    sari = Phone(engine, actor("sari"))
    sari.mutate("create", "inc-1", "incidents", dict(INCIDENT), warehouse_id=WH)
    sari.mutate("patch", "inc-1", "incidents", {"notes": [{"id": "n1", "text": "Dilaporkan ke KPU"}]})
    first = await sari.push()
    revision, audit_len = dict(store.revisions), sum(map(len, store.audit.values()))
    again = await sari.push()
    assert [r.status for r in again.results] == [r.status for r in first.results] == ["applied", "applied"]
    assert all(r.replayed for r in again.results)
    assert [r.revision for r in again.results] == [r.revision for r in first.results]
    assert (store.revisions, sum(map(len, store.audit.values()))) == (revision, audit_len)
    assert len(store.records["inc-1"].fields["notes"]) == 1


async def test_gap_in_numbering_is_reported_and_nothing_applies(
    engine: SyncEngine, store: MemoryStore
) -> None:
    sari = Phone(engine, actor("sari"))
    sari.mutate("create", "inc-1", "incidents", dict(INCIDENT), warehouse_id=WH)
    await sari.push()
    sari.outbox = []
    next(sari.seq)  # seq 2 is lost on the phone
    sari.mutate("create", "inc-2", "incidents", dict(INCIDENT), warehouse_id=WH)
    with pytest.raises(SequenceGap) as gap:
        await sari.push()
    assert gap.value.extra["expected_seq"] == 2
    assert "inc-2" not in store.records


async def test_numbering_inside_a_batch_must_be_consecutive(engine: SyncEngine) -> None:
    sari = Phone(engine, actor("sari"))
    a = sari.mutate("create", "inc-1", "incidents", dict(INCIDENT), warehouse_id=WH)
    b = sari.mutate("create", "inc-2", "incidents", dict(INCIDENT), warehouse_id=WH)
    with pytest.raises(BatchInvalid):
        await engine.push(sari.actor, sari.request([b, a]))


async def test_a_phone_clock_days_ahead_is_refused_and_moves_nothing(store: MemoryStore) -> None:
    """A phone whose date is wrong (three days ahead) would win every last-writer-wins edit until
    real time caught up, and drag the server's clock (and every phone's) forward: its batch is
    refused whole, with the server's stamp so the phone can stamp again; nothing is applied."""
    wall = [1_764_000_000_000]
    engine = SyncEngine(store, HybridClock("server", lambda: wall[0]))
    sari = Phone(engine, actor("sari"), wall=lambda: wall[0])
    sari.mutate("create", "inc-1", "incidents", dict(INCIDENT), warehouse_id=WH)
    assert [r.status for r in (await sari.push()).results] == ["applied"]
    sari.outbox = []

    rina = Phone(engine, actor("rina"), wall=lambda: wall[0] + 3 * 24 * 3600 * 1000)
    rina.mutate("create", "inc-2", "incidents", dict(INCIDENT), warehouse_id=WH)
    with pytest.raises(ClockAhead) as refused:
        await rina.push()
    assert refused.value.status == 400 and refused.value.extra["at_seq"] == 1
    assert "72.0 hours ahead" in refused.value.message
    server_ms = parse_hlc(refused.value.extra["server_hlc"])[0]
    assert server_ms == wall[0]
    assert "inc-2" not in store.records
    assert parse_hlc(engine.clock.now())[0] == wall[0], "the server's clock did not move"

    # Stamped again by the server's time (what the phone does), the same numbers apply.
    rina.clock = HybridClock(rina.client_id, lambda: server_ms)
    rina.outbox = []
    rina.seq = iter(range(1, 100))
    rina.mutate("create", "inc-2", "incidents", dict(INCIDENT), warehouse_id=WH)
    response = await rina.push()
    assert [(r.seq, r.status) for r in response.results] == [(1, "applied")]


async def test_a_phone_clock_a_little_ahead_is_accepted(store: MemoryStore) -> None:
    """Within the allowance (an hour) a fast phone clock is fine: the server's clock follows it."""
    wall = [1_764_000_000_000]
    engine = SyncEngine(store, HybridClock("server", lambda: wall[0]))
    rina = Phone(engine, actor("rina"), wall=lambda: wall[0] + 50 * 60 * 1000)
    rina.mutate("create", "inc-2", "incidents", dict(INCIDENT), warehouse_id=WH)
    assert [r.status for r in (await rina.push()).results] == ["applied"]
    assert parse_hlc(engine.clock.now())[0] >= wall[0] + 50 * 60 * 1000


async def test_rejected_mutation_consumes_its_number_and_is_kept(
    engine: SyncEngine, store: MemoryStore
) -> None:
    sari = Phone(engine, actor("sari"))
    sari.mutate("create", "inc-1", "incidents", {**INCIDENT, "severity": "gawat"}, warehouse_id=WH)
    sari.mutate("create", "inc-2", "incidents", dict(INCIDENT), warehouse_id=WH)
    response = await sari.push()
    assert [r.status for r in response.results] == ["rejected", "applied"]
    assert response.results[0].code == "invalid_value"
    assert "severity" in (response.results[0].message or "")
    kept = store.outcome_log[(sari.client_id, 1)]
    assert msgspec.json.decode(kept.mutation)["fields"]["severity"] == "gawat"
    assert response.last_seq == 2


async def test_concurrent_flag_field_keeps_first_value_and_flags_the_other(engine: SyncEngine) -> None:
    sari, joko = Phone(engine, actor("sari")), Phone(engine, actor("joko", agency="TNI"))
    await _incident(engine, sari, joko)
    sari.mutate("patch", "inc-1", "incidents", {"severity": "tinggi"})
    joko.mutate("patch", "inc-1", "incidents", {"severity": "kritis", "location": "Lantai 4, pintu belakang"})
    await sari.sync()
    response = await joko.push()
    assert response.results[0].status == "conflict"
    await joko.pull()
    await sari.pull()
    record = joko.replica["inc-1"].fields
    assert record["severity"] == "tinggi"
    assert record["location"] == "Lantai 4, pintu belakang"  # the non-conflicting field still applied
    [conflict] = _conflicts(sari)
    assert conflict["server_value"] == "tinggi" and conflict["server_by"] == "u-sari"
    assert conflict["client_value"] == "kritis" and conflict["client_by"] == "u-joko"
    assert conflict["status"] == "open" and conflict["field"] == "severity"
    assert sari.replica == joko.replica


async def test_own_earlier_offline_edits_are_not_conflicts(engine: SyncEngine) -> None:
    sari = Phone(engine, actor("sari"))
    sari.mutate("create", "inc-1", "incidents", dict(INCIDENT), warehouse_id=WH)
    sari.mutate("patch", "inc-1", "incidents", {"severity": "tinggi"})
    sari.mutate("patch", "inc-1", "incidents", {"severity": "kritis"})
    response = await sari.push()
    assert [r.status for r in response.results] == ["applied"] * 3
    await sari.pull()
    assert sari.replica["inc-1"].fields["severity"] == "kritis"


async def test_last_writer_wins_field_keeps_the_loser_in_an_auto_conflict(engine: SyncEngine) -> None:
    sari, joko = Phone(engine, actor("sari")), Phone(engine, actor("joko", agency="TNI"))
    await _incident(engine, sari, joko)
    joko.mutate("patch", "inc-1", "incidents", {"title": "versi Joko (lebih awal)"})
    sari.clock.receive(joko.clock.now())
    sari.mutate("patch", "inc-1", "incidents", {"title": "versi Sari (lebih baru)"})
    await sari.sync()
    await joko.sync()  # older stamp arrives last: it must not win
    await sari.pull()
    assert joko.replica["inc-1"].fields["title"] == "versi Sari (lebih baru)"
    [conflict] = _conflicts(joko)
    assert conflict["status"] == "auto"
    assert conflict["client_value"] == "versi Joko (lebih awal)"


async def test_union_and_append_fields_keep_both_sides(engine: SyncEngine) -> None:
    sari, joko = Phone(engine, actor("sari")), Phone(engine, actor("joko", agency="TNI"))
    await _incident(engine, sari, joko)
    sari.mutate(
        "patch", "inc-1", "incidents", {"photos": ["1" * 64], "notes": [{"id": "s1", "text": "Sari"}]}
    )
    joko.mutate(
        "patch", "inc-1", "incidents", {"photos": ["2" * 64], "notes": [{"id": "j1", "text": "Joko"}]}
    )
    await sari.sync()
    assert (await joko.push()).results[0].status == "applied"
    await joko.pull()
    fields = joko.replica["inc-1"].fields
    assert fields["photos"] == ["1" * 64, "2" * 64]
    assert [(n["id"], n["by"], n["agency"]) for n in fields["notes"]] == [
        ("s1", "u-sari", "POLRI"),
        ("j1", "u-joko", "TNI"),
    ]
    assert _conflicts(joko) == []


async def test_concurrent_stock_movements_both_count(engine: SyncEngine) -> None:
    await seed_stock(engine, expected=40)
    kpu1 = Phone(engine, actor("hendra", agency="KPU"))
    kpu2 = Phone(engine, actor("wati", agency="KPU"))
    await kpu1.pull()
    await kpu2.pull()
    sl = stock_level_id(WH, "kotak_suara")
    kpu1.mutate(
        "patch", sl, "stock_levels", {"expected": {"delta": 10}, "movements": [{"id": "m1", "delta": 10}]}
    )
    kpu2.mutate(
        "patch", sl, "stock_levels", {"expected": {"delta": -3}, "movements": [{"id": "m2", "delta": -3}]}
    )
    await kpu1.sync()
    await kpu2.sync()
    await kpu1.pull()
    assert kpu1.replica[sl].fields["expected"] == 47
    assert len(kpu1.replica[sl].fields["movements"]) == 2


async def test_officers_outside_kpu_cannot_move_stock(engine: SyncEngine) -> None:
    await seed_stock(engine)
    sari = Phone(engine, actor("sari"))
    await sari.pull()
    sari.mutate("patch", stock_level_id(WH, "kotak_suara"), "stock_levels", {"expected": {"delta": 5}})
    assert (await sari.push()).results[0].code == "forbidden"


async def test_edit_of_a_deleted_record_is_a_conflict_not_a_loss(
    engine: SyncEngine, store: MemoryStore
) -> None:
    sari, supervisor = Phone(engine, actor("sari")), Phone(engine, actor("budi", role="supervisor"))
    await _incident(engine, sari, supervisor)
    supervisor.mutate("delete", "inc-1", "incidents")
    sari.mutate("patch", "inc-1", "incidents", {"description": "Tambahan keterangan"})
    await supervisor.sync()
    response = await sari.push()
    assert response.results[0].status == "conflict"
    conflict = store.records[response.results[0].conflicts[0]].fields
    assert conflict["reason"] == "edit_after_delete"
    assert conflict["client_value"] == {"description": "Tambahan keterangan"}
    # The supervisor keeps the record: it comes back with the edit applied.
    await supervisor.pull()
    supervisor.mutate("resolve", response.results[0].conflicts[0], "conflicts", {"value": False})
    await supervisor.sync()
    await sari.pull()
    assert sari.replica["inc-1"].deleted is False
    assert sari.replica["inc-1"].fields["description"] == "Tambahan keterangan"


async def test_delete_of_a_record_changed_meanwhile_is_a_conflict(
    engine: SyncEngine, store: MemoryStore
) -> None:
    sari, supervisor = Phone(engine, actor("sari")), Phone(engine, actor("budi", role="supervisor"))
    await _incident(engine, sari, supervisor)
    sari.mutate("patch", "inc-1", "incidents", {"action_taken": "Segel diganti"})
    supervisor.mutate("delete", "inc-1", "incidents")
    await sari.sync()
    response = await supervisor.push()
    assert response.results[0].status == "conflict"
    assert store.records["inc-1"].deleted is False
    assert store.records[response.results[0].conflicts[0]].fields["reason"] == "delete_after_edit"


async def test_tombstones_travel_in_the_pull_feed(engine: SyncEngine) -> None:
    sari, joko = Phone(engine, actor("sari")), Phone(engine, actor("joko", agency="TNI"))
    await _incident(engine, sari, joko)
    sari.mutate("delete", "inc-1", "incidents")
    await sari.sync()
    await joko.pull()
    assert joko.replica["inc-1"].deleted is True


async def test_submit_enforces_required_answers_and_computes_findings(engine: SyncEngine) -> None:
    await seed_stock(engine, expected=40)
    sari = Phone(engine, actor("sari"))
    sari.mutate(
        "create", "insp-1", "inspections", {"template_id": TEMPLATE.id, "shift": "pagi"}, warehouse_id=WH
    )
    sari.mutate("submit", "insp-1", "inspections")
    sari.mutate("patch", "insp-1", "inspections", {"a.segel_pintu": "tidak", "a.kotak_suara": 38})
    sari.mutate("submit", "insp-1", "inspections")
    sari.mutate("patch", "insp-1", "inspections", {"a.nomor_segel": "KPU-0001"})
    response = await sari.push()
    assert [r.status for r in response.results] == ["applied", "rejected", "applied", "applied", "rejected"]
    assert response.results[1].code == "required_missing" and "segel_pintu" in (
        response.results[1].message or ""
    )
    assert response.results[4].code == "inspection_submitted"
    await sari.pull()
    fields = sari.replica["insp-1"].fields
    assert fields["status"] == "submitted"
    assert fields["findings"] == ["segel_pintu", "kotak_suara"]


async def test_review_locks_and_request_changes_reopens_for_the_officer(engine: SyncEngine) -> None:
    sari, budi = Phone(engine, actor("sari")), Phone(engine, actor("budi", role="supervisor"))
    sari.mutate(
        "create",
        "insp-1",
        "inspections",
        {"template_id": TEMPLATE.id, "a.segel_pintu": "ya"},
        warehouse_id=WH,
    )
    sari.mutate("submit", "insp-1", "inspections")
    await sari.sync()
    await budi.pull()
    sari.mutate("review", "insp-1", "inspections")
    assert (await sari.push()).results[0].code == "forbidden"
    budi.mutate("request_changes", "insp-1", "inspections", {"comment": "Foto pintu belum ada"})
    await budi.sync()
    await sari.pull()
    assert sari.replica["insp-1"].fields["status"] == "needs_fix"
    assert sari.replica["insp-1"].fields["review_comment"] == "Foto pintu belum ada"
    sari.mutate("patch", "insp-1", "inspections", {"p.foto_pintu": [SHA]})
    sari.mutate("submit", "insp-1", "inspections")
    await sari.sync()
    await budi.pull()
    budi.mutate("review", "insp-1", "inspections")
    await budi.sync()
    sari.mutate("patch", "insp-1", "inspections", {"summary": "ubah setelah diperiksa"})
    assert (await sari.push()).results[-1].code == "inspection_locked"


async def test_incident_workflow_follows_the_allowed_path(engine: SyncEngine) -> None:
    sari, budi = Phone(engine, actor("sari")), Phone(engine, actor("budi", role="supervisor"))
    joko, dodi = Phone(engine, actor("joko", agency="TNI")), Phone(engine, actor("dodi"))
    sari.mutate("create", "inc-1", "incidents", {**INCIDENT, "assigned_agency": "POLRI"}, warehouse_id=WH)
    await sari.sync()
    await joko.pull()
    await dodi.pull()
    joko.mutate("acknowledge", "inc-1", "incidents")
    dodi.mutate("resolve", "inc-1", "incidents", {"resolution": "Segel diganti"})
    sari.mutate("acknowledge", "inc-1", "incidents")
    joko_result = (await joko.push()).results[0]
    dodi_result = (await dodi.push()).results[-1]
    sari_result = (await sari.push()).results[-1]
    assert (joko_result.code, dodi_result.code) == ("forbidden", "invalid_transition")
    assert sari_result.code == "four_eyes"  # the reporter never acknowledges his own report
    dodi.mutate("acknowledge", "inc-1", "incidents")
    dodi.mutate("resolve", "inc-1", "incidents", {"resolution": "Segel diganti, BA dibuat"})
    assert [r.status for r in (await dodi.push()).results[-2:]] == ["applied", "applied"]
    await budi.pull()
    fields = budi.replica["inc-1"].fields
    assert fields["status"] == "resolved" and fields["resolution"] == "Segel diganti, BA dibuat"
    budi.mutate("reopen", "inc-1", "incidents")
    await budi.sync()
    assert budi.replica["inc-1"].fields["status"] == "open"


async def test_supervisor_may_resolve_straight_from_open(engine: SyncEngine) -> None:
    sari, budi = Phone(engine, actor("sari")), Phone(engine, actor("budi", role="supervisor"))
    await _incident(engine, sari, budi)
    budi.mutate("resolve", "inc-1", "incidents")
    assert (await budi.push()).results[0].status == "applied"


async def test_resolving_a_conflict_is_a_mutation_that_syncs(engine: SyncEngine) -> None:
    sari, joko = Phone(engine, actor("sari")), Phone(engine, actor("joko", agency="TNI"))
    budi = Phone(engine, actor("budi", role="supervisor"))
    await _incident(engine, sari, joko)
    sari.mutate("patch", "inc-1", "incidents", {"severity": "tinggi"})
    joko.mutate("patch", "inc-1", "incidents", {"severity": "kritis"})
    await sari.sync()
    conflict_id = (await joko.push()).results[0].conflicts[0]
    sari.mutate("resolve", conflict_id, "conflicts", {"value": "rendah"})
    await sari.pull()
    assert (await sari.push()).results[-1].code == "forbidden"
    await budi.pull()
    budi.mutate("resolve", conflict_id, "conflicts", {"value": "kritis"})
    assert (await budi.push()).results[0].status == "applied"
    await joko.pull()
    assert joko.replica["inc-1"].fields["severity"] == "kritis"
    assert joko.replica[conflict_id].fields["status"] == "resolved"
    assert joko.replica[conflict_id].fields["resolved_by"] == "u-budi"
    budi.mutate("resolve", conflict_id, "conflicts", {"value": "tinggi"})
    assert (await budi.push()).results[-1].code == "already_resolved"


async def test_officer_cannot_write_or_read_another_warehouse(engine: SyncEngine, store: MemoryStore) -> None:
    rina = Phone(engine, actor("rina", warehouses=(OTHER_WH,)))
    rina.mutate("create", "inc-x", "incidents", dict(INCIDENT), warehouse_id=OTHER_WH)
    await rina.sync()
    sari = Phone(engine, actor("sari"))
    sari.mutate("create", "inc-1", "incidents", dict(INCIDENT), warehouse_id=OTHER_WH)
    sari.mutate("patch", "inc-x", "incidents", {"severity": "kritis"})
    response = await sari.push()
    assert [r.code for r in response.results] == ["out_of_scope", "out_of_scope"]
    pulled = await engine.pull(
        sari.actor, PullRequest(protocol=1, client_id=sari.client_id, cursors={OTHER_WH: 0})
    )
    assert pulled.changes == [] and pulled.drop == [OTHER_WH] and pulled.scope == [WH]
    assert store.records["inc-x"].fields["severity"] == "sedang"


async def test_growing_scope_backfills_a_new_warehouse(engine: SyncEngine) -> None:
    rina = Phone(engine, actor("rina", warehouses=(OTHER_WH,)))
    rina.mutate("create", "inc-x", "incidents", dict(INCIDENT), warehouse_id=OTHER_WH)
    await rina.sync()
    sari = Phone(engine, actor("sari"))
    await sari.pull()
    assert "inc-x" not in sari.replica
    sari.actor = actor("sari", warehouses=(WH, OTHER_WH))
    response = await sari.pull()
    assert "inc-x" in sari.replica and set(response.scope) == {WH, OTHER_WH}


async def test_cursor_older_than_tombstone_horizon_is_reset(engine: SyncEngine, store: MemoryStore) -> None:
    sari = Phone(engine, actor("sari"))
    await _incident(engine, sari)
    store.horizons[WH] = store.revisions[WH] + 5
    response = await engine.pull(
        sari.actor, PullRequest(protocol=1, client_id=sari.client_id, cursors={WH: 1})
    )
    assert response.reset == [WH]
    assert [c.id for c in response.changes] == ["inc-1"]


async def test_digest_matches_what_the_phone_holds(engine: SyncEngine) -> None:
    sari, joko = Phone(engine, actor("sari")), Phone(engine, actor("joko", agency="TNI"))
    await _incident(engine, sari, joko)
    sari.mutate("patch", "inc-1", "incidents", {"severity": "tinggi"})
    joko.mutate("patch", "inc-1", "incidents", {"severity": "kritis"})
    await sari.sync()
    await joko.sync()
    response = await joko.pull()
    local = digest.compute([(c.id, c.revision) for c in joko.replica.values() if c.warehouse_id == WH])
    assert response.digests[WH] == local
    # A wiped replica no longer matches.
    wiped = digest.compute([(c.id, c.revision) for c in list(joko.replica.values())[1:]])
    assert wiped != response.digests[WH]


async def test_pull_pages_with_has_more_and_reflects_own_mutations(engine: SyncEngine) -> None:
    sari = Phone(engine, actor("sari"))
    for i in range(7):
        sari.mutate("create", f"inc-{i}", "incidents", dict(INCIDENT), warehouse_id=WH)
    await sari.push()
    first = await engine.pull(sari.actor, PullRequest(protocol=1, client_id=sari.client_id, limit=3))
    assert first.has_more and len(first.changes) == 3 and first.reflected_seq == 3 and first.digests == {}
    await sari.pull(limit=3)
    assert len(sari.replica) == 7 and sari.acked == 7 and sari.outbox == []


async def test_previous_schema_is_converted_and_older_refused(engine: SyncEngine, store: MemoryStore) -> None:
    sari = Phone(engine, actor("sari"))
    sari.mutate(
        "create", "inc-1", "incidents", {**INCIDENT, "severity": 3}, warehouse_id=WH, schema_version=1
    )
    assert (await sari.push()).results[0].status == "applied"
    assert store.records["inc-1"].fields["severity"] == "tinggi"
    sari.outbox = []
    sari.mutate("patch", "inc-1", "incidents", {"severity": 1}, schema_version=0)
    with pytest.raises(UpgradeRequired):
        await sari.push()


async def test_wrong_protocol_and_foreign_client_id_are_refused(engine: SyncEngine) -> None:
    sari = Phone(engine, actor("sari"))
    with pytest.raises(ProtocolMismatch):
        await engine.push(
            sari.actor, PushRequest(protocol=99, client_id=sari.client_id, schema_version=2, mutations=[])
        )
    with pytest.raises(ClientMismatch):
        await engine.push(
            sari.actor, PushRequest(protocol=1, client_id="dev-someone-else", schema_version=2, mutations=[])
        )


async def test_clock_stamp_must_come_from_the_pushing_client(engine: SyncEngine) -> None:
    sari = Phone(engine, actor("sari"))
    m = Mutation(
        seq=1,
        id="inc-1",
        collection="incidents",
        op="create",
        warehouse_id=WH,
        fields=dict(INCIDENT),
        hlc=HybridClock("dev-joko-0001").now(),
    )
    with pytest.raises(BatchInvalid):
        await engine.push(sari.actor, sari.request([m]))


async def test_skewed_phone_clock_cannot_win_by_being_behind(engine: SyncEngine) -> None:
    """A phone whose clock is a day behind still orders after what it has seen."""
    slow = Phone(engine, actor("sari"), wall=lambda: 1_600_000_000_000)
    fast = Phone(engine, actor("joko", agency="TNI"))
    await _incident(engine, fast, slow)
    fast.mutate("patch", "inc-1", "incidents", {"description": "dari jam yang benar"})
    await fast.sync()
    await slow.pull()
    slow.clock.receive(fast.clock.now())  # the pull carries the server's stamp; phones merge it
    slow.mutate("patch", "inc-1", "incidents", {"description": "diperbaiki setelah melihat"})
    await slow.sync()
    await fast.pull()
    assert fast.replica["inc-1"].fields["description"] == "diperbaiki setelah melihat"


async def test_missing_photo_is_pending_until_uploaded(engine: SyncEngine, store: MemoryStore) -> None:
    sari = Phone(engine, actor("sari"))
    sari.mutate("create", "inc-1", "incidents", {**INCIDENT, "photos": [SHA]}, warehouse_id=WH)
    response = await sari.push()
    assert response.results[0].pending_attachments == [SHA]
    assert (await sari.pull()).missing_attachments == [SHA]
    store.attachments.add(SHA)
    assert (await sari.pull()).missing_attachments == []


async def test_failed_commit_leaves_nothing_behind(store: MemoryStore) -> None:
    class Exploding(Exception):
        pass

    engine = SyncEngine(store)
    sari = Phone(engine, actor("sari"))
    sari.mutate("create", "inc-1", "incidents", dict(INCIDENT), warehouse_id=WH)
    original = type(store).write

    def broken_write(self: MemoryStore):  # type: ignore[no-untyped-def]
        manager = original(self)

        class Wrapper:
            async def __aenter__(self):  # type: ignore[no-untyped-def]
                tx = await manager.__aenter__()

                async def commit(effects):  # type: ignore[no-untyped-def]
                    raise Exploding

                tx.commit = commit
                return tx

            async def __aexit__(self, *exc):  # type: ignore[no-untyped-def]
                return await manager.__aexit__(*exc)

        return Wrapper()

    type(store).write = broken_write  # type: ignore[method-assign]
    try:
        with pytest.raises(Exploding):
            await sari.push()
    finally:
        type(store).write = original  # type: ignore[method-assign]
    assert store.records == {} and store.last_seq == {}
    assert (await sari.push()).results[0].status == "applied"


async def test_keeping_an_edit_after_delete_merges_notes_and_photos(
    engine: SyncEngine, store: MemoryStore
) -> None:
    sari, supervisor = Phone(engine, actor("sari")), Phone(engine, actor("budi", role="supervisor"))
    sari.mutate("create", "inc-1", "incidents", {**INCIDENT, "photos": ["1" * 64]}, warehouse_id=WH)
    sari.mutate("patch", "inc-1", "incidents", {"notes": [{"id": "n1", "text": "Dilaporkan"}]})
    await sari.sync()
    await supervisor.pull()
    supervisor.mutate("delete", "inc-1", "incidents")
    sari.mutate(
        "patch",
        "inc-1",
        "incidents",
        {
            "notes": [{"id": "n2", "text": "Segel diganti"}],
            "photos": ["2" * 64],
            "description": "Sudah ditangani",
        },
    )
    await supervisor.sync()
    conflict_id = (await sari.push()).results[-1].conflicts[0]
    await supervisor.pull()
    supervisor.mutate("resolve", conflict_id, "conflicts", {"value": False})
    await supervisor.sync()
    fields = store.records["inc-1"].fields
    assert store.records["inc-1"].deleted is False
    assert [n["id"] for n in fields["notes"]] == ["n1", "n2"]
    assert fields["notes"][1]["by"] == "u-sari"
    assert fields["photos"] == ["1" * 64, "2" * 64]
    assert fields["description"] == "Sudah ditangani"
