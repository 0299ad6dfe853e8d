"""Administration endpoints: admins only, scoped admins limited to their warehouses, every change
in the audit log, templates validated and immutable."""

from __future__ import annotations

import httpx
import pytest
import yaml

from server.seed import load_template
from server.storage.sqlite import SqliteStorage
from tests.factories import Factory, bearer, every_audit_row

ADMIN_CALLS = [
    ("GET", "/api/admin/users", None),
    ("POST", "/api/admin/users", {}),
    ("PATCH", "/api/admin/users/u-1", {}),
    ("GET", "/api/admin/users/u-1/devices", None),
    ("POST", "/api/admin/users/u-1/devices/d-1/revoke", {}),
    ("GET", "/api/admin/warehouses", None),
    ("POST", "/api/admin/warehouses", {}),
    ("PUT", "/api/admin/warehouses/w-1", {}),
    ("POST", "/api/admin/templates", {}),
]


async def audit_kinds(storage: SqliteStorage) -> list[str]:
    return [row.entry.kind for row in await every_audit_row(storage)]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
async def test_admin_endpoints_refuse_officers_and_supervisors(
    client: httpx.AsyncClient, factory: Factory, method: str, path: str, body: object
) -> None:
    w = await factory.warehouse()
    assert (await client.request(method, path, json=body)).status_code == 401
    for role in ("officer", "supervisor"):
        token = await factory.token(await factory.user(role=role, warehouses=[w]))  # type: ignore[arg-type]
        response = await client.request(method, path, json=body, headers=bearer(token))
        assert response.status_code == 403 and response.json()["code"] == "forbidden", role


async def test_an_admin_creates_assigns_disables_and_resets_users_with_audit(
    client: httpx.AsyncClient, factory: Factory, storage: SqliteStorage
) -> None:
    a, b = await factory.warehouse(), await factory.warehouse()
    admin = bearer(await factory.token(await factory.user(role="admin", agency="KPU")))
    new = {
        "username": "bagus",
        "full_name": "Bagus Wicaksono",
        "agency": "TNI",
        "rank": "Kopda",
        "warehouses": [a.id],
        "password": "rahasia-gudang-123",
    }
    created = await client.post("/api/admin/users", json=new, headers=admin)
    assert created.status_code == 201 and created.json()["warehouses"] == [a.id]
    user_id = created.json()["id"]
    assert (await client.post("/api/admin/users", json=new, headers=admin)).status_code == 409
    short = await client.post(
        "/api/admin/users", json={**new, "username": "x2", "password": "123"}, headers=admin
    )
    assert short.status_code == 400

    login = await client.post(
        "/api/auth/login",
        json={
            "username": "bagus",
            "password": "rahasia-gudang-123",
            "device_name": "HP",
            "client_id": "dev-bagus-01",
        },
    )
    token = bearer(login.json()["token"])
    assigned = await client.patch(
        f"/api/admin/users/{user_id}", json={"warehouses": [a.id, b.id]}, headers=admin
    )
    assert assigned.json()["warehouses"] == sorted([a.id, b.id])
    devices = (await client.get(f"/api/admin/users/{user_id}/devices", headers=admin)).json()
    assert [d["client_id"] for d in devices] == ["dev-bagus-01"]
    revoked = await client.post(
        f"/api/admin/users/{user_id}/devices/{devices[0]['id']}/revoke", json={}, headers=admin
    )
    assert revoked.json() == {"revoked": True}
    assert (await client.get("/api/me", headers=token)).status_code == 401

    disabled = await client.patch(f"/api/admin/users/{user_id}", json={"disabled": True}, headers=admin)
    assert disabled.json()["disabled"] is True
    await client.patch(
        f"/api/admin/users/{user_id}", json={"disabled": False, "password": "baru-sekali-9"}, headers=admin
    )
    again = await client.post(
        "/api/auth/login",
        json={
            "username": "bagus",
            "password": "baru-sekali-9",
            "device_name": "HP",
            "client_id": "dev-bagus-01",
        },
    )
    assert again.status_code == 200
    kinds = await audit_kinds(storage)
    for kind in (
        "user.created",
        "user.assigned",
        "auth.token_revoked",
        "user.disabled",
        "user.enabled",
        "user.password_changed",
    ):
        assert kind in kinds


async def test_a_scoped_admin_manages_only_its_warehouses(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    mine, other = await factory.warehouse(), await factory.warehouse()
    scoped = bearer(await factory.token(await factory.user(role="admin", agency="KPU", warehouses=[mine])))
    inside = await factory.user(warehouses=[mine])
    outside = await factory.user(warehouses=[other])
    listed = {u["id"] for u in (await client.get("/api/admin/users", headers=scoped)).json()}
    assert inside.id in listed and outside.id not in listed
    assert (
        await client.patch(f"/api/admin/users/{outside.id}", json={"disabled": True}, headers=scoped)
    ).status_code == 404
    moved = await client.patch(
        f"/api/admin/users/{inside.id}", json={"warehouses": [other.id]}, headers=scoped
    )
    assert moved.status_code == 403 and moved.json()["code"] == "out_of_scope"
    admin_user = {
        "username": "adm2",
        "full_name": "Admin Dua",
        "agency": "KPU",
        "role": "admin",
        "password": "rahasia-gudang-123",
    }
    assert (await client.post("/api/admin/users", json=admin_user, headers=scoped)).status_code == 403
    assert [w["id"] for w in (await client.get("/api/admin/warehouses", headers=scoped)).json()] == [mine.id]
    new = {"id": "gd-baru", "code": "gudang_baru", "name": "Gudang Baru"}
    assert (await client.post("/api/admin/warehouses", json=new, headers=scoped)).status_code == 403
    assert (
        await client.put(f"/api/admin/warehouses/{other.id}", json={**new, "id": other.id}, headers=scoped)
    ).status_code == 404


async def test_warehouses_are_created_and_edited_with_audit(
    client: httpx.AsyncClient, factory: Factory, storage: SqliteStorage
) -> None:
    admin = bearer(await factory.token(await factory.user(role="admin", agency="KPU")))
    new = {
        "id": "gd-tanah-abang",
        "code": "tanah_abang",
        "name": "Gudang Logistik KPU Kecamatan Tanah Abang",
        "kecamatan": "Tanah Abang",
        "kota": "Jakarta Pusat",
    }
    assert (await client.post("/api/admin/warehouses", json=new, headers=admin)).status_code == 201
    assert (await client.post("/api/admin/warehouses", json=new, headers=admin)).status_code == 409
    edited = await client.put(
        f"/api/admin/warehouses/{new['id']}", json={**new, "floor_room": "lantai 2"}, headers=admin
    )
    assert edited.status_code == 200 and (await storage.warehouse(new["id"])).floor_room == "lantai 2"  # type: ignore[union-attr]
    mismatch = await client.put(
        f"/api/admin/warehouses/{new['id']}", json={**new, "id": "lain"}, headers=admin
    )
    assert mismatch.status_code == 400
    kinds = await audit_kinds(storage)
    assert "warehouse.created" in kinds and "warehouse.updated" in kinds


async def test_templates_publish_from_json_or_yaml_with_clear_errors_and_never_change(
    client: httpx.AsyncClient, factory: Factory, storage: SqliteStorage
) -> None:
    await factory.reference_data()
    admin = bearer(await factory.token(await factory.user(role="admin", agency="KPU")))
    import msgspec

    template = msgspec.to_builtins(load_template())
    v3 = {**template, "id": "", "version": 3}
    published = await client.post(
        "/api/admin/templates",
        content=msgspec.json.encode(v3),
        headers={**admin, "Content-Type": "application/json"},
    )
    assert published.status_code == 201 and published.json()["id"] == "gudang_logistik-v3"
    assert (await client.get("/api/templates/current", headers=admin)).json()["version"] == 3
    again = await client.post(
        "/api/admin/templates",
        content=msgspec.json.encode(v3),
        headers={**admin, "Content-Type": "application/json"},
    )
    assert again.status_code == 409 and again.json()["code"] == "version_not_newer"

    v4 = {**template, "id": "", "version": 4}
    as_yaml = yaml.safe_dump(v4, allow_unicode=True).encode()
    assert (
        await client.post(
            "/api/admin/templates", content=as_yaml, headers={**admin, "Content-Type": "application/yaml"}
        )
    ).status_code == 201

    broken = {**template, "id": "", "version": 5}
    broken["sections"][0]["items"][0]["kind"] = "slider"
    bad = await client.post(
        "/api/admin/templates",
        content=msgspec.json.encode(broken),
        headers={**admin, "Content-Type": "application/json"},
    )
    assert bad.status_code == 400 and "$.sections[0].items[0].kind" in bad.json()["message"]
    broken["sections"][0]["items"][0]["kind"] = "yes_no"
    broken["sections"][0]["items"][0]["finding_if"] = ["mungkin"]
    bad = await client.post(
        "/api/admin/templates",
        content=msgspec.json.encode(broken),
        headers={**admin, "Content-Type": "application/json"},
    )
    assert bad.status_code == 400 and "finding_if[0]" in bad.json()["message"]
    # Words, never codes: every text in both languages, every choice with a label.
    for path, change, message in [
        ("label", lambda i: i.update(label="Hanya bahasa Indonesia"), "items[0].label"),
        ("label", lambda i: i.update(label={"id": "Jumlah personel"}), "missing the 'en' text"),
        ("choice_labels", lambda i: None, "choice 'normal' has no label"),
    ]:
        untranslated = msgspec.to_builtins(load_template())
        untranslated.update(id="", version=5)
        items = untranslated["sections"][0]["items"]
        if path == "choice_labels":
            items = untranslated["sections"][2]["items"]
            choice = next(i for i in items if i["kind"] == "choice")
            del choice["choice_labels"]["normal"]
        else:
            change(items[0])
        bad = await client.post(
            "/api/admin/templates",
            content=msgspec.json.encode(untranslated),
            headers={**admin, "Content-Type": "application/json"},
        )
        assert bad.status_code == 400 and bad.json()["code"] == "template_invalid", bad.text
        assert message in bad.json()["message"] + " ".join(bad.json().get("errors", [])), bad.json()
    assert (
        await client.post(
            "/api/admin/templates", content=b"{ nope", headers={**admin, "Content-Type": "application/json"}
        )
    ).status_code == 400
    assert "template.published" in await audit_kinds(storage)


# -- passwords and strict bodies --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "password",
    ["12345678", "password", "PASSWORD", "rahasia-123", "1qaz2wsx3edc", "QazWsxEdcRfv"],
)
async def test_new_passwords_need_12_characters_and_none_of_the_10000_most_common(
    client: httpx.AsyncClient, factory: Factory, storage: SqliteStorage, password: str
) -> None:
    admin = bearer(await factory.token(await factory.user(role="admin")))
    user = await factory.user(username="korban")
    body = {"username": "baru", "full_name": "Pengguna Baru", "agency": "TNI", "password": password}
    created = await client.post("/api/admin/users", json=body, headers=admin)
    changed = await client.patch(f"/api/admin/users/{user.id}", json={"password": password}, headers=admin)
    for response in (created, changed):
        assert response.status_code == 400, response.text
        assert response.json()["code"] in ("weak_password", "invalid_request")
    assert await storage.user_by_username("baru") is None
    assert await audit_kinds(storage) == []


@pytest.mark.parametrize(
    "body",
    [{"disabled": 0}, {"disabled": 1}, {"disabled": "true"}, {"disabled": None, "warehouses": "gd-1"}],
)
async def test_admin_bodies_take_booleans_and_lists_strictly(
    client: httpx.AsyncClient, factory: Factory, storage: SqliteStorage, body: dict[str, object]
) -> None:
    admin = bearer(await factory.token(await factory.user(role="admin")))
    user = await factory.user(username="korban")
    response = await client.patch(f"/api/admin/users/{user.id}", json=body, headers=admin)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request"), response.text
    assert "at `$." in response.json()["message"]
    found = await storage.user(user.id)
    assert found is not None and not found.disabled
    assert await audit_kinds(storage) == []


async def test_a_change_refused_in_part_changes_nothing(
    client: httpx.AsyncClient, factory: Factory, storage: SqliteStorage
) -> None:
    w = await factory.warehouse()
    admin_user = await factory.user(role="admin")
    admin = bearer(await factory.token(admin_user))
    user = await factory.user(username="korban")
    weak = await client.patch(
        f"/api/admin/users/{user.id}", json={"disabled": True, "password": "pendek"}, headers=admin
    )
    assert weak.status_code == 400
    myself = await client.patch(
        f"/api/admin/users/{admin_user.id}", json={"warehouses": [w.id], "disabled": True}, headers=admin
    )
    assert (myself.status_code, myself.json()["code"]) == (409, "cannot_disable_self")
    found, me = await storage.user(user.id), await storage.user(admin_user.id)
    assert found is not None and not found.disabled
    assert me is not None and me.warehouses == [] and not me.disabled
    assert await audit_kinds(storage) == []


async def test_template_number_bounds_are_checked_and_the_upload_body_is_in_openapi(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await factory.reference_data()
    admin = bearer(await factory.token(await factory.user(role="admin", agency="KPU")))
    import msgspec

    template = msgspec.to_builtins(load_template())
    broken = {**template, "id": "", "version": 2}
    items = broken["sections"][0]["items"]
    number = next(i for i, item in enumerate(items) if item["kind"] == "number")
    items[number] = {**items[number], "min": 10, "max": 2}
    bad = await client.post(
        "/api/admin/templates",
        content=msgspec.json.encode(broken),
        headers={**admin, "Content-Type": "application/json"},
    )
    assert (
        bad.status_code == 400 and bad.json()["code"] == "template_invalid" and "min" in bad.json()["message"]
    )

    schema = (await client.get("/schema/openapi.json")).json()
    body = schema["paths"]["/api/admin/templates"]["post"]["requestBody"]
    assert body["required"] is True
    assert set(body["content"]) == {"application/json", "application/yaml"}
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Template"}
    assert {"integer", "min", "max"} <= set(schema["components"]["schemas"]["TemplateItem"]["properties"])
