"""Photos are read only through a record the reader can see now, that the photo's uploader made
reference it: a hash is not a key. `/missing` and the upload status answer only for photos the
caller uploaded or may read. (Officers who were reassigned or revoked may keep hashes on their
phone; a colleague from another warehouse may learn one.)"""

from __future__ import annotations

import hashlib
import io
import re
from typing import Any

import httpx
import pytest
from PIL import Image

from server.seed import load_template
from tests.factories import Factory, bearer
from tests.server.test_sync_api import INCIDENT, Device


def jpeg(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (shade % 256, 90, 160)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Factory) -> dict[str, Any]:
    """Warehouse B's officer took photo `b_photo` and attached it to an incident there; A's officer
    and supervisor work in A."""
    await factory.reference_data()
    a, b = await factory.warehouse(), await factory.warehouse()
    phones = {}
    for name, warehouse in (("a", a), ("b", b)):
        user = await factory.user(warehouses=[warehouse])
        client_id = f"dev-{name}-{user.id[:8]}"
        phones[name] = Device(client, await factory.token(user, client_id=client_id), client_id)
        phones[name].user = user  # type: ignore[attr-defined]
    data = jpeg(7)
    sha = hashlib.sha256(data).hexdigest()
    assert (
        await client.put(f"/api/attachments/{sha}", content=data, headers=bearer(phones["b"].token))
    ).status_code == 201
    pushed = await phones["b"].push(
        [phones["b"].mutation("create", "inc-b", warehouse_id=b.id, fields={**INCIDENT, "photos": [sha]})]
    )
    assert pushed.json()["results"][0]["status"] == "applied"
    supervisor = await factory.user(role="supervisor", warehouses=[a])
    return {
        "a": a,
        "b": b,
        "phones": phones,
        "b_photo": sha,
        "supervisor": bearer(await factory.token(supervisor)),
    }


async def test_a_hash_put_in_ones_own_record_grants_no_access(
    world: dict[str, Any], client: httpx.AsyncClient
) -> None:
    a_phone: Device = world["phones"]["a"]
    sha = world["b_photo"]
    assert (await client.get(f"/api/attachments/{sha}", headers=bearer(a_phone.token))).status_code == 403
    # A's officer references B's photo from an A record: that gives neither A's officer nor A's
    # supervisor the photo, its thumbnail, or a PDF with it.
    template, a = load_template(), world["a"]
    pushed = await a_phone.push(
        [
            a_phone.mutation("create", "inc-a", warehouse_id=a.id, fields={**INCIDENT, "photos": [sha]}),
            a_phone.mutation("create", "insp-a", "inspections", warehouse_id=a.id,
                             fields={"template_id": template.id, "shift": "pagi", "photos": [sha]}),
        ]
    )  # fmt: skip
    assert [r["status"] for r in pushed.json()["results"]] == ["applied", "applied"]
    for headers in (bearer(a_phone.token), world["supervisor"]):
        for path in (f"/api/attachments/{sha}", f"/api/attachments/{sha}/thumb"):
            denied = await client.get(path, headers=headers)
            assert (denied.status_code, denied.json()["code"]) == (403, "out_of_scope"), path
    pdf = await client.get("/api/inspections/insp-a/report.pdf", headers=world["supervisor"])
    assert pdf.status_code == 200 and not re.findall(rb"/Subtype /Image", pdf.content)
    # B's own people still see it.
    b_phone: Device = world["phones"]["b"]
    assert (await client.get(f"/api/attachments/{sha}", headers=bearer(b_phone.token))).status_code == 200


async def test_an_officer_moved_to_another_warehouse_no_longer_reads_the_photos_he_took(
    world: dict[str, Any], client: httpx.AsyncClient, factory: Factory
) -> None:
    b_phone: Device = world["phones"]["b"]
    sha = world["b_photo"]
    await factory.storage.assign(b_phone.user.id, [world["a"].id])  # type: ignore[attr-defined]
    denied = await client.get(f"/api/attachments/{sha}", headers=bearer(b_phone.token))
    assert (denied.status_code, denied.json()["code"]) == (403, "out_of_scope")


async def test_missing_and_the_upload_status_answer_only_within_the_callers_scope(
    world: dict[str, Any], client: httpx.AsyncClient
) -> None:
    a_phone: Device = world["phones"]["a"]
    b_photo = world["b_photo"]
    mine = jpeg(200)
    mine_sha = hashlib.sha256(mine).hexdigest()
    headers = bearer(a_phone.token)
    assert (
        await client.put(f"/api/attachments/{mine_sha}", content=mine, headers=headers)
    ).status_code == 201
    never = "f" * 64
    missing = await client.post(
        "/api/attachments/missing", json={"hashes": [b_photo, mine_sha, never]}, headers=headers
    )
    # B's photo exists, but A's officer may not learn it: reported missing, as a photo never uploaded.
    assert missing.json() == {"missing": [b_photo, never]}
    status = (await client.get(f"/api/attachments/{b_photo}/upload", headers=headers)).json()
    assert status["complete"] is False and status["stored"] == 0
    # A one-byte range does not prove holding the photo: no "complete" for it either.
    probe = await client.put(
        f"/api/attachments/{b_photo}", content=b"\xff", headers={**headers, "Content-Range": "bytes 0-0/9999"}
    )
    assert probe.status_code == 202 and probe.json()["complete"] is False
    # B's own officer is told it is there.
    b_headers = bearer(world["phones"]["b"].token)
    assert (
        await client.post("/api/attachments/missing", json={"hashes": [b_photo]}, headers=b_headers)
    ).json() == {"missing": []}


async def test_until_it_is_attached_a_photo_is_its_uploaders_alone(
    world: dict[str, Any], client: httpx.AsyncClient, factory: Factory
) -> None:
    a_phone: Device = world["phones"]["a"]
    data = jpeg(120)
    sha = hashlib.sha256(data).hexdigest()
    assert (
        await client.put(f"/api/attachments/{sha}", content=data, headers=bearer(a_phone.token))
    ).status_code == 201
    colleague = bearer(await factory.token(await factory.user(warehouses=[world["a"]])))
    assert (await client.get(f"/api/attachments/{sha}", headers=bearer(a_phone.token))).status_code == 200
    assert (await client.get(f"/api/attachments/{sha}", headers=colleague)).status_code == 403
    pushed = await a_phone.push(
        [
            a_phone.mutation(
                "create", "inc-a2", warehouse_id=world["a"].id, fields={**INCIDENT, "photos": [sha]}
            )
        ]
    )
    assert pushed.json()["results"][0]["status"] == "applied"
    assert (await client.get(f"/api/attachments/{sha}", headers=colleague)).status_code == 200
