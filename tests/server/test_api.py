"""Account and reference endpoints, and who may see what."""

from __future__ import annotations

import httpx

from server.storage.sqlite import SqliteStorage
from tests.factories import Factory, bearer


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["schema_version"] >= 1


async def test_me_shows_the_user_and_full_warehouses_in_scope(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    mine = await factory.warehouse(name="Gudang Logistik KPU Kecamatan Johar Baru", floor_room="lantai 4")
    await factory.warehouse()
    user, token = await factory.officer_with_token(mine)
    body = (await client.get("/api/me", headers=bearer(token))).json()
    assert body["user"]["id"] == user.id and body["user"]["role"] == "officer"
    assert body["warehouses"] == [
        {
            "id": mine.id,
            "code": mine.code,
            "name": mine.name,
            "address": mine.address,
            "kelurahan": mine.kelurahan,
            "kecamatan": mine.kecamatan,
            "kota": mine.kota,
            "floor_room": "lantai 4",
            "active": True,
        }
    ]
    assert body["agencies"]["POLRI"].startswith("Kepolisian")


async def test_an_officer_sees_only_assigned_warehouses(client: httpx.AsyncClient, factory: Factory) -> None:
    a, b, _ = await factory.warehouse(), await factory.warehouse(), await factory.warehouse()
    _, token = await factory.officer_with_token(a, b)
    listed = (await client.get("/api/warehouses", headers=bearer(token))).json()
    assert sorted(w["id"] for w in listed) == sorted([a.id, b.id])


async def test_a_supervisor_sees_assigned_and_an_unassigned_admin_sees_all(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    a, b, c = await factory.warehouse(), await factory.warehouse(), await factory.warehouse()
    supervisor = await factory.user(role="supervisor", warehouses=[a, c])
    admin = await factory.user(role="admin", agency="KPU")
    scoped_admin = await factory.user(role="admin", agency="KPU", warehouses=[b])
    for user, expected in ((supervisor, {a.id, c.id}), (admin, {a.id, b.id, c.id}), (scoped_admin, {b.id})):
        token = await factory.token(user)
        listed = (await client.get("/api/warehouses", headers=bearer(token))).json()
        assert {w["id"] for w in listed} == expected, user.role


async def test_colleagues_of_a_warehouse(client: httpx.AsyncClient, factory: Factory) -> None:
    w, other = await factory.warehouse(), await factory.warehouse()
    me, token = await factory.officer_with_token(w)
    tni = await factory.user(agency="TNI", rank="Serka", full_name="Joko Susilo", warehouses=[w])
    await factory.user(agency="FKDM", warehouses=[w], disabled=True)
    await factory.user(warehouses=[other])
    response = await client.get("/api/users/colleagues", params={"warehouse_id": w.id}, headers=bearer(token))
    assert response.status_code == 200
    colleagues = {c["id"]: c for c in response.json()}
    assert set(colleagues) == {me.id, tni.id}
    assert colleagues[tni.id] == {"id": tni.id, "full_name": "Joko Susilo", "agency": "TNI", "rank": "Serka"}


async def test_an_officer_cannot_read_another_warehouse(client: httpx.AsyncClient, factory: Factory) -> None:
    mine, theirs = await factory.warehouse(), await factory.warehouse()
    _, token = await factory.officer_with_token(mine)
    response = await client.get(
        "/api/users/colleagues", params={"warehouse_id": theirs.id}, headers=bearer(token)
    )
    assert response.status_code == 403
    assert response.json() == {
        "code": "out_of_scope",
        "message": "Gudang ini di luar penugasan Anda",
        "warehouse_id": theirs.id,
    }
    unknown = await client.get(
        "/api/users/colleagues", params={"warehouse_id": "gd-x"}, headers=bearer(token)
    )
    assert unknown.status_code == 403


async def test_scope_follows_assignment_changes(
    client: httpx.AsyncClient, factory: Factory, storage: SqliteStorage
) -> None:
    a, b = await factory.warehouse(), await factory.warehouse()
    user, token = await factory.officer_with_token(a)
    await storage.assign(user.id, [b.id])
    listed = (await client.get("/api/warehouses", headers=bearer(token))).json()
    assert [w["id"] for w in listed] == [b.id]


async def test_templates(client: httpx.AsyncClient, factory: Factory) -> None:
    _, token = await factory.officer_with_token()
    missing = await client.get("/api/templates/current", headers=bearer(token))
    assert missing.status_code == 404 and missing.json()["code"] == "template_not_found"
    await factory.reference_data()
    current = await client.get("/api/templates/current", headers=bearer(token))
    assert current.status_code == 200
    body = current.json()
    assert (body["id"], body["code"], body["version"]) == ("gudang_logistik-v2", "gudang_logistik", 2)
    assert body["title"] == {
        "id": "Pemeriksaan Gudang Logistik Pemilu",
        "en": "Election Logistics Warehouse Inspection",
    }
    older = await client.get("/api/templates/gudang_logistik-v1", headers=bearer(token))
    assert older.status_code == 200 and older.json()["title"] == "Pemeriksaan Gudang Logistik Pemilu"
    by_id = await client.get(f"/api/templates/{body['id']}", headers=bearer(token))
    assert by_id.json() == body
    assert (await client.get("/api/templates/nope", headers=bearer(token))).status_code == 404
    bad_code = await client.get("/api/templates/current", params={"code": "Bad Code!"}, headers=bearer(token))
    assert bad_code.status_code == 400


async def test_stock_items(client: httpx.AsyncClient, factory: Factory) -> None:
    await factory.reference_data()
    _, token = await factory.officer_with_token()
    items = (await client.get("/api/stock-items", headers=bearer(token))).json()
    codes = [i["code"] for i in items]
    assert {
        "surat_suara_dprd",
        "surat_suara_gubernur",
        "kotak_suara",
        "bilik_suara",
        "tinta",
        "segel",
        "formulir_c_hasil",
        "sampul",
    } <= set(codes)
    assert codes[0] == "kotak_suara"
    assert all(i["unit"] for i in items)


async def test_every_api_endpoint_but_login_needs_a_token(client: httpx.AsyncClient) -> None:
    for path in (
        "/api/me",
        "/api/warehouses",
        "/api/templates/current",
        "/api/templates/x",
        "/api/stock-items",
        "/api/users/colleagues?warehouse_id=w",
    ):
        response = await client.get(path)
        assert response.status_code == 401, path
        assert response.json()["code"] == "unauthorized"
    assert (await client.post("/api/auth/logout")).status_code == 401
