"""The sync endpoints through the real app and the real SQLite file: scope, versions, malformed and
oversize batches, exactly-once over HTTP, attachments."""

from __future__ import annotations

import hashlib
import io
import json
import time
from typing import Any

import httpx
import pytest
from PIL import Image

from server.seed import load_template
from sync.clock import HybridClock
from sync.messages import MAX_BATCH
from tests.factories import Factory, bearer

INCIDENT = {"category": "segel_rusak", "severity": "sedang", "description": "Segel pintu belakang sobek"}


class Device:
    """A phone talking HTTP: its client id is bound to its token."""

    def __init__(self, client: httpx.AsyncClient, token: str, client_id: str) -> None:
        self.client, self.token, self.client_id = client, token, client_id
        self.clock = HybridClock(client_id)
        self.seq = 0

    def mutation(self, op: str, rid: str, collection: str = "incidents", **kw: Any) -> dict[str, Any]:
        self.seq += 1
        return {"seq": self.seq, "id": rid, "collection": collection, "op": op, "hlc": self.clock.now(), **kw}

    async def push(self, mutations: list[dict[str, Any]], **overrides: Any) -> httpx.Response:
        body = {"protocol": 1, "client_id": self.client_id, "schema_version": 2, "mutations": mutations}
        return await self.client.post(
            "/api/sync/push", json={**body, **overrides}, headers=bearer(self.token)
        )

    async def pull(self, cursors: dict[str, int] | None = None, **kw: Any) -> dict[str, Any]:
        body = {"protocol": 1, "client_id": self.client_id, "cursors": cursors or {}, **kw}
        response = await self.client.post("/api/sync/pull", json=body, headers=bearer(self.token))
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Factory) -> dict[str, Any]:
    await factory.reference_data()
    johar, senen = await factory.warehouse(), await factory.warehouse()
    sari = await factory.user(warehouses=[johar])
    rina = await factory.user(warehouses=[senen], agency="SATPOL_PP")
    devices = {}
    for name, user in (("sari", sari), ("rina", rina)):
        client_id = f"dev-{name}-{user.id[:8]}"
        devices[name] = Device(client, await factory.token(user, client_id=client_id), client_id)
    return {"johar": johar, "senen": senen, **devices}


async def test_push_then_pull_round_trip(world: dict[str, Any]) -> None:
    sari: Device = world["sari"]
    response = await sari.push(
        [sari.mutation("create", "inc-1", warehouse_id=world["johar"].id, fields=INCIDENT)]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["results"][0]["status"] == "applied" and body["last_seq"] == 1
    pulled = await sari.pull()
    [change] = pulled["changes"]
    assert change["id"] == "inc-1" and change["fields"]["status"] == "open"
    assert pulled["reflected_seq"] == 1 and pulled["digests"][world["johar"].id]["count"] == 1


async def test_retried_push_over_http_changes_nothing(world: dict[str, Any], sql_rows: Any) -> None:
    sari: Device = world["sari"]
    batch = [
        sari.mutation("create", "inc-1", warehouse_id=world["johar"].id, fields=INCIDENT),
        sari.mutation("patch", "inc-1", fields={"notes": [{"id": "n1", "text": "Lapor KPU"}]}),
    ]
    first = (await sari.push(batch)).json()
    before = sql_rows("SELECT count(*), max(revision) FROM records")
    audit_before = sql_rows("SELECT count(*) FROM audit_log")
    second = (await sari.push(batch)).json()
    assert [r["revision"] for r in second["results"]] == [r["revision"] for r in first["results"]]
    assert all(r["replayed"] for r in second["results"])
    assert sql_rows("SELECT count(*), max(revision) FROM records") == before
    assert sql_rows("SELECT count(*) FROM audit_log") == audit_before


async def test_officer_cannot_push_to_or_pull_from_another_warehouse(world: dict[str, Any]) -> None:
    sari: Device = world["sari"]
    rina: Device = world["rina"]
    await rina.push([rina.mutation("create", "inc-s", warehouse_id=world["senen"].id, fields=INCIDENT)])
    response = await sari.push(
        [
            sari.mutation("create", "inc-1", warehouse_id=world["senen"].id, fields=INCIDENT),
            sari.mutation("patch", "inc-s", fields={"severity": "kritis"}),
        ]
    )
    assert [r["code"] for r in response.json()["results"]] == ["out_of_scope", "out_of_scope"]
    pulled = await sari.pull({world["senen"].id: 0})
    assert pulled["changes"] == [] and pulled["drop"] == [world["senen"].id]
    assert world["senen"].id not in pulled["scope"]


async def test_protocol_mismatch_and_old_schema_are_clear_errors(world: dict[str, Any]) -> None:
    sari: Device = world["sari"]
    wrong = await sari.push([], protocol=7)
    assert wrong.status_code == 400 and wrong.json()["code"] == "protocol_mismatch"
    old = await sari.push(
        [sari.mutation("create", "inc-1", warehouse_id=world["johar"].id, fields=INCIDENT, schema_version=0)]
    )
    assert old.status_code == 426 and old.json()["code"] == "upgrade_required"


async def test_sequence_gap_is_409_with_the_expected_number(world: dict[str, Any], sql_rows: Any) -> None:
    sari: Device = world["sari"]
    sari.seq = 4
    response = await sari.push(
        [sari.mutation("create", "inc-1", warehouse_id=world["johar"].id, fields=INCIDENT)]
    )
    assert response.status_code == 409
    assert response.json()["code"] == "sequence_gap" and response.json()["expected_seq"] == 1
    assert sql_rows("SELECT count(*) FROM records") == [(0,)]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"protocol": 1, "client_id": ', None),
        ({"protocol": 1, "client_id": "x", "schema_version": 2, "mutations": []}, "client_id"),
        ({"protocol": "satu", "client_id": "dev-abcdefgh", "schema_version": 2, "mutations": []}, "protocol"),
        (
            {"protocol": 1, "client_id": "dev-abcdefgh", "schema_version": 2, "mutations": [], "extra": 1},
            "extra",
        ),
        (
            {
                "protocol": 1,
                "client_id": "dev-abcdefgh",
                "schema_version": 2,
                "mutations": [{"seq": 1, "id": "a", "collection": "bogus", "op": "create", "hlc": "x"}],
            },
            "mutations[0]",
        ),
    ],
)
async def test_malformed_batches_are_400_and_apply_nothing(
    world: dict[str, Any], body: Any, where: str | None, sql_rows: Any
) -> None:
    sari: Device = world["sari"]
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
    response = await sari.client.post(
        "/api/sync/push", headers={**bearer(sari.token), "Content-Type": "application/json"}, **kwargs
    )
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] in ("invalid_request", "malformed_json") and error["message"]
    if where:
        assert where in response.text
    assert sql_rows("SELECT count(*) FROM outcomes") == [(0,)]


async def test_a_bad_mutation_in_the_middle_rejects_only_itself(world: dict[str, Any], sql_rows: Any) -> None:
    sari: Device = world["sari"]
    wh = world["johar"].id
    response = await sari.push(
        [
            sari.mutation("create", "inc-1", warehouse_id=wh, fields=INCIDENT),
            sari.mutation("create", "inc-2", warehouse_id=wh, fields={**INCIDENT, "status": "resolved"}),
            sari.mutation("create", "inc-3", warehouse_id=wh, fields=INCIDENT),
        ]
    )
    assert [r["status"] for r in response.json()["results"]] == ["applied", "rejected", "applied"]
    kept = sql_rows("SELECT status, mutation FROM outcomes WHERE seq = 2")
    body = kept[0][1] if isinstance(kept[0][1], str) else bytes(kept[0][1]).decode()  # type: ignore[arg-type]
    assert kept[0][0] == "rejected" and "resolved" in body


async def test_oversize_batches_are_refused(world: dict[str, Any]) -> None:
    sari: Device = world["sari"]
    many = [
        sari.mutation("create", f"inc-{i}", warehouse_id=world["johar"].id, fields=INCIDENT)
        for i in range(MAX_BATCH + 1)
    ]
    response = await sari.push(many)
    assert response.status_code in (400, 413) and response.json()["code"] in (
        "invalid_request",
        "body_too_large",
    )
    huge = await sari.client.post(
        "/api/sync/push",
        content=b'{"pad": "' + b"x" * (9 * 1024 * 1024) + b'"}',
        headers={**bearer(sari.token), "Content-Type": "application/json"},
    )
    assert huge.status_code == 413 and huge.json()["code"] == "body_too_large"


async def test_push_with_a_client_id_not_of_this_device_is_refused(world: dict[str, Any]) -> None:
    sari: Device = world["sari"]
    response = await sari.push([], client_id="dev-another-device")
    assert response.status_code == 403 and response.json()["code"] == "client_mismatch"


async def test_push_without_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/sync/push", json={})
    assert response.status_code == 401 and response.json()["code"]


async def test_submit_uses_the_published_template(world: dict[str, Any]) -> None:
    sari: Device = world["sari"]
    template = load_template()
    response = await sari.push(
        [
            sari.mutation(
                "create",
                "insp-1",
                "inspections",
                warehouse_id=world["johar"].id,
                fields={"template_id": template.id, "shift": "malam"},
            ),
            sari.mutation("submit", "insp-1", "inspections"),
        ]
    )
    submit = response.json()["results"][1]
    assert submit["status"] == "rejected" and submit["code"] == "required_missing"


def _jpeg(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), color).save(out, "JPEG")
    return out.getvalue()


async def test_photo_upload_is_content_addressed_and_checked(world: dict[str, Any]) -> None:
    sari: Device = world["sari"]
    data = _jpeg()
    sha = hashlib.sha256(data).hexdigest()
    headers = {**bearer(sari.token), "Content-Type": "image/jpeg"}
    pushed = await sari.push(
        [
            sari.mutation(
                "create", "inc-1", warehouse_id=world["johar"].id, fields={**INCIDENT, "photos": [sha]}
            )
        ]
    )
    assert pushed.json()["results"][0]["pending_attachments"] == [sha]
    assert (await sari.pull())["missing_attachments"] == [sha]
    missing = await sari.client.post(
        "/api/attachments/missing", json={"hashes": [sha]}, headers=bearer(sari.token)
    )
    assert missing.json() == {"missing": [sha]}

    wrong = await sari.client.put(f"/api/attachments/{'0' * 64}", content=data, headers=headers)
    assert wrong.status_code == 400 and wrong.json()["code"] == "hash_mismatch"
    text = b"not a photo at all"
    fake = await sari.client.put(
        f"/api/attachments/{hashlib.sha256(text).hexdigest()}", content=text, headers=headers
    )
    assert fake.status_code == 415 and fake.json()["code"] == "unsupported_type"

    stored = await sari.client.put(f"/api/attachments/{sha}", content=data, headers=headers)
    assert stored.status_code == 201
    again = await sari.client.put(f"/api/attachments/{sha}", content=data, headers=headers)
    assert again.status_code == 200
    assert (await sari.pull())["missing_attachments"] == []
    got = await sari.client.get(f"/api/attachments/{sha}", headers=bearer(sari.token))
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == sha
    thumb = await sari.client.get(f"/api/attachments/{sha}/thumb", headers=bearer(sari.token))
    assert thumb.status_code == 200 and max(Image.open(io.BytesIO(thumb.content)).size) == 320

    rina: Device = world["rina"]
    denied = await rina.client.get(f"/api/attachments/{sha}", headers=bearer(rina.token))
    assert denied.status_code == 403 and denied.json()["code"] == "out_of_scope"
    assert (
        await rina.client.get(f"/api/attachments/{'f' * 64}", headers=bearer(rina.token))
    ).status_code == 404


@pytest.mark.parametrize("path", ["/api/sync/push", "/api/sync/pull"])
async def test_sync_bodies_decoded_in_one_pass_answer_like_every_other_route(
    world: dict[str, Any], path: str
) -> None:
    """push and pull decode their bodies straight into the Structs (server.api.wire): bad bodies
    still get the same codes and the path of the bad value."""
    sari: Device = world["sari"]
    headers = {**bearer(sari.token), "Content-Type": "application/json"}

    async def post(content: bytes | object) -> dict[str, Any]:
        raw = content if isinstance(content, bytes) else json.dumps(content).encode()
        response = await sari.client.post(path, content=raw, headers=headers)
        assert response.status_code == 400, response.text
        body: dict[str, Any] = response.json()
        assert body["message"]
        return body

    assert (await post(b'{"protocol": 1,'))["code"] == "malformed_json"
    assert (await post(b""))["code"] in ("missing_body", "invalid_request")
    bad = {"protocol": "satu", "client_id": sari.client_id, "schema_version": 2, "mutations": []}
    error = await post(bad)
    assert error["code"] == "invalid_request"
    assert error["message"] == "Expected `int`, got `str` - at `$.protocol`"
    first = sari.mutation("create", "inc-x", warehouse_id=world["johar"].id, fields=INCIDENT)
    if path.endswith("push"):
        body = {"protocol": 1, "client_id": sari.client_id, "schema_version": 2}
        error = await post({**body, "mutations": [first, {**first, "seq": "x"}]})
        assert error["message"] == "Expected `int`, got `str` - at `$.mutations[1].seq`"


async def test_a_nul_character_in_a_push_is_400_invalid_text_and_the_corrected_retry_applies(
    world: dict[str, Any], sql_rows: Any
) -> None:
    """U+0000 is refused in any string (PostgreSQL cannot store it in text): the whole batch is
    refused up front with a clear 400 on either backend, nothing earlier is touched, and no number
    is used up by it."""
    sari: Device = world["sari"]
    wh = world["johar"].id
    accepted = await sari.push([sari.mutation("create", "inc-1", warehouse_id=wh, fields=INCIDENT)])
    assert accepted.status_code == 200, accepted.text
    batch = [
        sari.mutation("patch", "inc-1", fields={"notes": [{"id": "n1", "text": "Lapor KPU"}]}),
        sari.mutation(
            "create", "inc-2", warehouse_id=wh, fields={**INCIDENT, "description": "Segel\x00sobek"}
        ),
    ]
    refused = await sari.push(batch)
    assert refused.status_code == 400, refused.text
    error = refused.json()
    assert error["code"] == "invalid_text" and "NUL" in error["message"]
    assert sql_rows("SELECT seq FROM outcomes ORDER BY seq") == [(1,)]
    [kept] = (await sari.pull())["changes"]
    assert kept["id"] == "inc-1" and kept["fields"]["description"] == INCIDENT["description"]
    assert "notes" not in kept["fields"] or kept["fields"]["notes"] == []

    batch[1]["fields"]["description"] = "Segel sobek"
    retried = await sari.push(batch)
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert [r["status"] for r in body["results"]] == ["applied", "applied"] and body["last_seq"] == 3
    changes = {c["id"]: c["fields"] for c in (await sari.pull())["changes"]}
    assert changes["inc-1"]["notes"][0]["text"] == "Lapor KPU"
    assert changes["inc-2"]["description"] == "Segel sobek"


async def test_an_escaped_backslash_before_u0000_is_ordinary_text_and_round_trips(
    world: dict[str, Any],
) -> None:
    sari: Device = world["sari"]
    text = "Kode segel \\u0000 dan \\\\u0000 ditulis apa adanya"  # backslashes, no NUL
    response = await sari.push(
        [
            sari.mutation(
                "create", "inc-1", warehouse_id=world["johar"].id, fields={**INCIDENT, "description": text}
            )
        ]
    )
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["status"] == "applied"
    [change] = (await sari.pull())["changes"]
    assert change["fields"]["description"] == text


async def test_a_stamp_days_ahead_is_400_clock_ahead_with_the_servers_time(
    world: dict[str, Any], sql_rows: Any
) -> None:
    """A phone with a wrong date: the batch is refused whole (nothing stored, no number used) and
    the answer carries the server's stamp, from which the PWA corrects its clock and stamps again."""
    sari: Device = world["sari"]
    ahead = f"{int(time.time() * 1000) + 2 * 24 * 3600 * 1000:013d}-00000-{sari.client_id}"
    mutation = sari.mutation("create", "inc-future", warehouse_id=world["johar"].id, fields=INCIDENT)
    response = await sari.push([{**mutation, "hlc": ahead}])
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "clock_ahead" and body["at_seq"] == 1 and "hours ahead" in body["message"]
    server_ms = int(body["server_hlc"].split("-")[0])
    assert abs(server_ms - time.time() * 1000) < 60_000
    assert abs(body["server_time_ms"] - time.time() * 1000) < 60_000
    assert sql_rows("SELECT count(*) FROM outcomes WHERE record_id = 'inc-future'") == [(0,)]
    retry = await sari.push([mutation])
    assert retry.status_code == 200 and retry.json()["results"][0]["status"] == "applied"
    # Every answer tells the server's wall clock, which phones set their clock offset from.
    assert abs(retry.json()["server_time_ms"] - time.time() * 1000) < 60_000
    assert abs((await sari.pull())["server_time_ms"] - time.time() * 1000) < 60_000
