"""Authorization matrix: every route of the app x every kind of caller x own / other warehouse.

Callers: an officer, a supervisor and an admin assigned to warehouse A, an admin without assignment
(administers everything), a disabled user, a revoked token and no token. "own" asks about
warehouse A (or a record, photo, user or device of A), "other" about warehouse B.

ROUTES has one row per (method, path) the application serves. `test_every_route_has_a_row` fails
when a route is added without a row (or a row outlives its route), so no endpoint ships without
its authorization being stated and checked here. Static files and the API schema under /schema are
listed explicitly as public (the docs viewers exist only with --api-docs: test_hardening.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from PIL import Image

from server.auth import token_hash
from server.models import User, Warehouse
from server.seed import load_template
from server.storage.sqlite import SqliteStorage
from tests.factories import PASSWORD, Factory, bearer
from tests.server.test_sync_api import INCIDENT, Device

OWN, OTHER = "own", "other"
SCOPES = (OWN, OTHER)
AUTHED = ("officer", "supervisor", "admin", "admin_global")
DENIED = ("disabled", "revoked", "anonymous")
PRINCIPALS = AUTHED + DENIED
_n = itertools.count(1)


@dataclass
class Req:
    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    client: httpx.AsyncClient
    app: Litestar
    storage: SqliteStorage
    factory: Factory
    wh: dict[str, Warehouse]
    users: dict[str, User]
    """officer/supervisor/admin/admin_global/disabled, plus officer_b (warehouse B) and loginuser."""
    inspection: dict[str, str]
    photo: dict[str, str]
    template_id: str

    def warehouse(self, scope: str) -> str:
        return self.wh[scope].id

    def member(self, scope: str) -> User:
        """An officer of the warehouse of this scope."""
        return self.users["officer" if scope == OWN else "officer_b"]


Build = Callable[[World, str], Awaitable[Req] | Req]
Expect = int | str | tuple[int | str, int | str]


@dataclass
class Route:
    build: Build
    expect: dict[str, Expect]
    """Per authenticated caller: one outcome for both scopes, or (own, other). Callers not listed
    get 401 (DENIED) unless the route is public."""
    public: Expect | None = None
    """Public routes: the outcome for every caller, token or not."""


def jpeg(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (seed % 256, (seed * 7) % 256, (seed * 13) % 256)).save(out, "JPEG")
    return out.getvalue()


def q(world: World, scope: str) -> str:
    return f"warehouse_id={world.warehouse(scope)}"


def same(code: Expect) -> dict[str, Expect]:
    return dict.fromkeys(AUTHED, code)


def scoped_reads(ok: Expect = 200) -> dict[str, Expect]:
    """Supervisors and admins, within their warehouses (an unassigned admin: all); officers never."""
    return {"officer": 403, "supervisor": (ok, 403), "admin": (ok, 403), "admin_global": ok}


def admins_only(own: Expect, other: Expect, global_: Expect | None = None) -> dict[str, Expect]:
    return {"officer": 403, "supervisor": 403, "admin": (own, other), "admin_global": global_ or own}


def everyone_scoped(own: Expect = 200, other: Expect = 403) -> dict[str, Expect]:
    return {"officer": (own, other), "supervisor": (own, other), "admin": (own, other), "admin_global": own}


def push(world: World, scope: str) -> Req:
    # The client id is the caller's; filled in by `call` from the token's device.
    return Req(
        "POST", "/api/sync/push", json={"warehouse_id": world.warehouse(scope), "id": f"inc-mx-{next(_n)}"}
    )


def pull(world: World, scope: str) -> Req:
    return Req("POST", "/api/sync/pull", json={"cursors": {world.warehouse(scope): 0}})


async def device_of(world: World, scope: str) -> str:
    token = await world.factory.token(world.member(scope))
    device = await world.storage.device_by_token(token_hash(token))
    assert device is not None
    return device.id


async def revoke(world: World, scope: str) -> Req:
    user = world.member(scope)
    return Req("POST", f"/api/admin/users/{user.id}/devices/{await device_of(world, scope)}/revoke")


async def rename_device(world: World, scope: str) -> Req:
    user = world.member(scope)
    path = f"/api/admin/users/{user.id}/devices/{await device_of(world, scope)}"
    return Req("PATCH", path, json={"name": "HP pos jaga 2"})


def new_user(world: World, scope: str) -> Req:
    n = next(_n)
    body = {"username": f"baru{n}", "full_name": f"Baru {n}", "agency": "FKDM", "password": "x" * 12,
            "warehouses": [world.warehouse(scope)]}  # fmt: skip
    return Req("POST", "/api/admin/users", json=body)


def new_warehouse(world: World, scope: str) -> Req:
    n = next(_n)
    return Req(
        "POST", "/api/admin/warehouses", json={"id": f"gd-mx-{n}", "code": f"gd_mx_{n}", "name": f"G {n}"}
    )


def update_warehouse(world: World, scope: str) -> Req:
    import msgspec

    warehouse = world.wh[scope]
    return Req("PUT", f"/api/admin/warehouses/{warehouse.id}", json=msgspec.to_builtins(warehouse))


def new_template(world: World, scope: str) -> Req:
    import msgspec

    body = msgspec.to_builtins(load_template())
    body.update(id="", code=f"uji_{next(_n)}", version=1)
    return Req("POST", "/api/admin/templates", json=body)


def upload(world: World, scope: str) -> Req:
    data = jpeg(next(_n))
    return Req("PUT", f"/api/attachments/{hashlib.sha256(data).hexdigest()}", content=data,
               headers={"Content-Type": "image/jpeg"})  # fmt: skip


def login(world: World, scope: str) -> Req:
    body = {
        "username": "loginuser",
        "password": PASSWORD,
        "device_name": "HP",
        "client_id": f"login-{next(_n):06d}",
    }
    return Req("POST", "/api/auth/login", json=body)


def get(path: str) -> Build:
    return lambda world, scope: Req("GET", path)


def new_webhook(world: World, scope: str) -> Req:
    body = {"url": f"http://127.0.0.1:9/hook-{next(_n)}", "events": ["incident.created"],
            "secret": "a-secret-of-enough-length", "allow_private": True}  # fmt: skip
    return Req("POST", "/api/admin/webhooks", json=body)


def new_subscription(world: World, scope: str) -> Req:
    body = {"endpoint": f"https://push.example/sub-{next(_n)}", "lang": "id",
            "keys": {"p256dh": "B" + "A" * 86, "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}  # fmt: skip
    return Req("POST", "/api/push/subscriptions", json=body)


ROUTES: dict[tuple[str, str], Route] = {
    # -- public: health, login, the PWA's static files and the API docs
    ("GET", "/healthz"): Route(get("/healthz"), {}, public=200),
    ("POST", "/api/auth/login"): Route(login, {}, public=200),
    ("GET", "/"): Route(get("/"), {}, public=200),
    ("HEAD", "/"): Route(lambda w, s: Req("HEAD", "/"), {}, public=200),
    ("GET", "/{file_path:path}"): Route(get("/js/app.js"), {}, public=200),
    ("HEAD", "/{file_path:path}"): Route(lambda w, s: Req("HEAD", "/js/app.js"), {}, public=200),
    ("GET", "/schema"): Route(get("/schema"), {}, public=200),
    ("GET", "/schema/openapi.json"): Route(get("/schema/openapi.json"), {}, public=200),
    ("GET", "/schema/openapi.yaml"): Route(get("/schema/openapi.yaml"), {}, public=200),
    ("GET", "/schema/openapi.yml"): Route(get("/schema/openapi.yml"), {}, public=200),
    ("GET", "/schema/{path:str}"): Route(get("/schema/nothing-here"), {}, public=404),
    # -- accounts and reference data: any logged-in user; colleagues only of their warehouses
    ("POST", "/api/auth/logout"): Route(lambda w, s: Req("POST", "/api/auth/logout"), same(204)),
    ("GET", "/api/me"): Route(get("/api/me"), same(200)),
    ("GET", "/api/users/colleagues"): Route(
        lambda w, s: Req("GET", f"/api/users/colleagues?{q(w, s)}"), everyone_scoped()
    ),
    ("GET", "/api/warehouses"): Route(get("/api/warehouses"), same(200)),
    ("GET", "/api/templates/current"): Route(get("/api/templates/current"), same(200)),
    ("GET", "/api/templates/{template_id:str}"): Route(
        lambda w, s: Req("GET", f"/api/templates/{w.template_id}"), same(200)
    ),
    ("GET", "/api/stock-items"): Route(get("/api/stock-items"), same(200)),
    # -- sync: anyone logged in, but a mutation outside scope is rejected and a pull never crosses
    ("POST", "/api/sync/push"): Route(
        push, everyone_scoped("applied", "out_of_scope") | {"admin_global": "applied"}
    ),
    ("POST", "/api/sync/pull"): Route(
        pull, everyone_scoped("in_scope", "dropped") | {"admin_global": "in_scope"}
    ),
    # -- photos: upload by anyone logged in; reading needs a warehouse in scope (or being the uploader)
    ("POST", "/api/attachments/missing"): Route(
        lambda w, s: Req("POST", "/api/attachments/missing", json={"hashes": [w.photo[s]]}), same(200)
    ),
    ("PUT", "/api/attachments/{sha256:str}"): Route(upload, same(201)),
    # Like /missing: tells only how much of a photo the server holds (a resumed upload's offset).
    ("GET", "/api/attachments/{sha256:str}/upload"): Route(
        lambda w, s: Req("GET", f"/api/attachments/{w.photo[s]}/upload"), same(200)
    ),
    ("GET", "/api/attachments/{sha256:str}"): Route(
        lambda w, s: Req("GET", f"/api/attachments/{w.photo[s]}"), everyone_scoped()
    ),
    ("GET", "/api/attachments/{sha256:str}/thumb"): Route(
        lambda w, s: Req("GET", f"/api/attachments/{w.photo[s]}/thumb"), everyone_scoped()
    ),
    # -- supervisor view: supervisors and admins, within their warehouses
    ("GET", "/api/supervisor/overview"): Route(
        get("/api/supervisor/overview"), scoped_reads() | {"supervisor": 200, "admin": 200}
    ),
    ("GET", "/api/supervisor/people"): Route(
        get("/api/supervisor/people"), scoped_reads() | {"supervisor": 200, "admin": 200}
    ),
    ("GET", "/api/supervisor/inspections"): Route(
        lambda w, s: Req("GET", f"/api/supervisor/inspections?{q(w, s)}"), scoped_reads()
    ),
    ("GET", "/api/supervisor/inspections/{inspection_id:str}"): Route(
        lambda w, s: Req("GET", f"/api/supervisor/inspections/{w.inspection[s]}"), scoped_reads()
    ),
    ("GET", "/api/supervisor/incidents"): Route(
        lambda w, s: Req("GET", f"/api/supervisor/incidents?{q(w, s)}"), scoped_reads()
    ),
    ("GET", "/api/supervisor/conflicts"): Route(
        lambda w, s: Req("GET", f"/api/supervisor/conflicts?{q(w, s)}"), scoped_reads()
    ),
    ("GET", "/api/supervisor/stock"): Route(
        lambda w, s: Req("GET", f"/api/supervisor/stock?{q(w, s)}"), scoped_reads()
    ),
    ("GET", "/api/supervisor/charts"): Route(
        lambda w, s: Req("GET", f"/api/supervisor/charts?{q(w, s)}"), scoped_reads()
    ),
    ("GET", "/api/supervisor/roster"): Route(
        lambda w, s: Req("GET", f"/api/supervisor/roster?{q(w, s)}"), scoped_reads()
    ),
    ("GET", "/api/supervisor/roster.csv"): Route(
        lambda w, s: Req("GET", f"/api/supervisor/roster.csv?{q(w, s)}"), scoped_reads()
    ),
    ("GET", "/api/supervisor/mutasi"): Route(
        lambda w, s: Req("GET", f"/api/supervisor/mutasi?{q(w, s)}&date=2026-02-09"), scoped_reads()
    ),
    ("GET", "/api/supervisor/audit"): Route(
        lambda w, s: Req("GET", f"/api/supervisor/audit?{q(w, s)}"), scoped_reads()
    ),
    ("GET", "/api/exports/{name:str}"): Route(
        lambda w, s: Req("GET", f"/api/exports/incidents.csv?{q(w, s)}"), scoped_reads()
    ),
    ("GET", "/api/inspections/{inspection_id:str}/report.pdf"): Route(
        lambda w, s: Req("GET", f"/api/inspections/{w.inspection[s]}/report.pdf"), scoped_reads()
    ),
    ("GET", "/api/live"): Route(get("/api/live"), scoped_reads() | {"supervisor": 200, "admin": 200}),
    # Resuming names cursors of warehouses: those outside the caller's scope are ignored.
    ("POST", "/api/live/resume"): Route(
        lambda w, s: Req("POST", "/api/live/resume", json={"cursors": {w.warehouse(s): 0}}),
        scoped_reads() | {"supervisor": 200, "admin": 200},
    ),
    # -- administration: admins only; an assigned admin manages only their warehouses' people
    ("GET", "/api/admin/users"): Route(get("/api/admin/users"), admins_only(200, 200)),
    ("POST", "/api/admin/users"): Route(new_user, admins_only(201, 403, 201)),
    ("PATCH", "/api/admin/users/{user_id:str}"): Route(
        lambda w, s: Req(
            "PATCH", f"/api/admin/users/{w.member(s).id}", json={"warehouses": [w.warehouse(s)]}
        ),
        admins_only(200, 404, 200),
    ),
    ("GET", "/api/admin/users/{user_id:str}/devices"): Route(
        lambda w, s: Req("GET", f"/api/admin/users/{w.member(s).id}/devices"), admins_only(200, 404, 200)
    ),
    ("POST", "/api/admin/users/{user_id:str}/devices/{device_id:str}/revoke"): Route(
        revoke, admins_only(200, 404, 200)
    ),
    ("PATCH", "/api/admin/users/{user_id:str}/devices/{device_id:str}"): Route(
        rename_device, admins_only(200, 404, 200)
    ),
    ("GET", "/api/admin/warehouses"): Route(get("/api/admin/warehouses"), admins_only(200, 200)),
    ("POST", "/api/admin/warehouses"): Route(new_warehouse, admins_only(403, 403, 201)),
    ("PUT", "/api/admin/warehouses/{warehouse_id:str}"): Route(update_warehouse, admins_only(200, 404, 200)),
    ("POST", "/api/admin/templates"): Route(new_template, admins_only(403, 403, 201)),
    # -- alerts: webhooks and dead letters for unassigned admins; push subscriptions, one's own
    ("GET", "/api/admin/webhooks"): Route(get("/api/admin/webhooks"), admins_only(403, 403, 200)),
    ("POST", "/api/admin/webhooks"): Route(new_webhook, admins_only(403, 403, 201)),
    ("DELETE", "/api/admin/webhooks/{webhook_id:str}"): Route(
        lambda w, s: Req("DELETE", "/api/admin/webhooks/no-such-hook"), admins_only(403, 403, 404)
    ),
    ("GET", "/api/admin/alerts/dead"): Route(get("/api/admin/alerts/dead"), admins_only(403, 403, 200)),
    ("POST", "/api/admin/alerts/dead/{delivery_id:str}/replay"): Route(
        lambda w, s: Req("POST", "/api/admin/alerts/dead/no-such-delivery/replay"), admins_only(403, 403, 404)
    ),
    ("GET", "/api/push/key"): Route(get("/api/push/key"), same(200)),
    ("GET", "/api/push/subscriptions"): Route(get("/api/push/subscriptions"), same(200)),
    ("POST", "/api/push/subscriptions"): Route(new_subscription, same(201)),
    ("DELETE", "/api/push/subscriptions/{subscription_id:str}"): Route(
        lambda w, s: Req("DELETE", "/api/push/subscriptions/not-mine"), same(404)
    ),
}


def served_routes(app: Litestar) -> set[tuple[str, str]]:
    """(method, path) of every handler, without the OPTIONS handlers Litestar adds to each path
    (covered by test_options_requests_reveal_nothing_and_allow_no_origin)."""
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in getattr(handler, "http_methods", ()):
                if method == "OPTIONS" and handler.handler_name == "options_handler":
                    continue
                found.add((method, route.path))
    return found


def test_every_route_has_a_row(app: Litestar) -> None:
    served = served_routes(app)
    missing = sorted(served - ROUTES.keys())
    stale = sorted(ROUTES.keys() - served)
    assert not missing, f"routes without an authorization row in ROUTES: {missing}"
    assert not stale, f"rows in ROUTES for routes the app no longer serves: {stale}"


def test_the_openapi_schema_lists_no_operation_outside_the_table(app: Litestar) -> None:
    from litestar.openapi.spec import PathItem

    schema = app.openapi_schema
    documented = set()
    for path, item in (schema.paths or {}).items():
        assert isinstance(item, PathItem)
        for method in ("get", "put", "post", "delete", "patch", "head"):
            if getattr(item, method) is not None:
                documented.add((method.upper(), path))
    table = {(m, p.replace(":str", "").replace(":path", "")) for m, p in ROUTES}
    assert documented <= table, sorted(documented - table)


# -- running the matrix --------------------------------------------------------------------------------------
@pytest.fixture
async def world(client: httpx.AsyncClient, app: Litestar, factory: Factory, storage: SqliteStorage) -> World:
    await factory.reference_data()
    a, b = await factory.warehouse(), await factory.warehouse()
    users = {
        "officer": await factory.user(warehouses=[a]),
        "officer_b": await factory.user(warehouses=[b], agency="TNI"),
        "supervisor": await factory.user(role="supervisor", warehouses=[a]),
        "admin": await factory.user(role="admin", warehouses=[a]),
        "admin_global": await factory.user(role="admin"),
        "disabled": await factory.user(warehouses=[a], disabled=True),
        "loginuser": await factory.user(username="loginuser"),
    }
    template = load_template()
    inspection, photo = {}, {}
    for scope, user, warehouse in ((OWN, users["officer"], a), (OTHER, users["officer_b"], b)):
        client_id = f"seed-{scope}-{user.id[:8]}"
        phone = Device(client, await factory.token(user, client_id=client_id), client_id)
        data = jpeg(1000 + len(photo))
        sha = hashlib.sha256(data).hexdigest()
        # The officer takes the photo and attaches it: what makes it readable in the warehouse.
        stored = await client.put(
            f"/api/attachments/{sha}",
            content=data,
            headers={**bearer(phone.token), "Content-Type": "image/jpeg"},
        )
        assert stored.status_code == 201
        incident = {**INCIDENT, "photos": [sha]}
        inspection_fields = {"template_id": template.id, "shift": "pagi"}
        pushed = await phone.push(
            [
                phone.mutation("create", f"inc-{scope}", warehouse_id=warehouse.id, fields=incident),
                phone.mutation("create", f"insp-{scope}", "inspections", warehouse_id=warehouse.id,
                               fields=inspection_fields),
            ]
        )  # fmt: skip
        assert [r["status"] for r in pushed.json()["results"]] == ["applied", "applied"], pushed.text
        inspection[scope], photo[scope] = f"insp-{scope}", sha
    return World(
        client=client,
        app=app,
        storage=storage,
        factory=factory,
        wh={OWN: a, OTHER: b},
        users=users,
        inspection=inspection,
        photo=photo,
        template_id=template.id,
    )


async def token_for(world: World, principal: str) -> tuple[str | None, str]:
    """A fresh token (and its client id) per request, so a logout or revoke affects nothing else."""
    client_id = f"mx-{principal}-{next(_n):06d}"
    if principal == "anonymous":
        return None, client_id
    user = world.users["officer" if principal == "revoked" else principal]
    if principal == "disabled":
        # A token issued before the account was disabled (factory.user disabled it already).
        return await world.factory.token(user, client_id=client_id), client_id
    token = await world.factory.token(user, client_id=client_id)
    if principal == "revoked":
        device = await world.storage.device_by_token(token_hash(token))
        assert device is not None
        await world.storage.revoke_device(device.id, "2026-01-01T00:00:00.000Z")
    return token, client_id


async def first_response(app: Litestar, req: Req, headers: dict[str, str]) -> int:
    """Status of a streaming endpoint (server-sent events never end): call the ASGI app directly and
    stop at the response start."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": req.method,
        "scheme": "http", "path": req.path.split("?")[0], "raw_path": req.path.split("?")[0].encode(),
        "query_string": req.path.partition("?")[2].encode(), "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234), "server": ("testserver", 80), "state": {},
    }  # fmt: skip
    body = b"" if req.json is None else msgspec.json.encode(req.json)
    if body:
        scope["headers"] += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    sent_body = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and not started.done():
            started.set_result(message["status"])

    task = asyncio.create_task(app(scope, receive, send))  # type: ignore[arg-type]
    try:
        return await asyncio.wait_for(started, 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def call(world: World, key: tuple[str, str], principal: str, scope: str) -> tuple[int, Any]:
    route = ROUTES[key]
    built = route.build(world, scope)
    req = await built if asyncio.iscoroutine(built) else built
    assert isinstance(req, Req)
    token, client_id = await token_for(world, principal)
    headers = {**req.headers, **(bearer(token) if token else {})}
    if key in (("GET", "/api/live"), ("POST", "/api/live/resume")):
        return await first_response(world.app, req, headers), None
    body = req.json
    if key == ("POST", "/api/sync/push"):
        phone = Device(world.client, token or "", client_id)
        mutation = phone.mutation("create", body["id"], warehouse_id=body["warehouse_id"], fields=INCIDENT)
        body = {"protocol": 1, "client_id": client_id, "schema_version": 2, "mutations": [mutation]}
    elif key == ("POST", "/api/sync/pull"):
        body = {"protocol": 1, "client_id": client_id, **body}
    response = await world.client.request(
        req.method, req.path, json=body, content=req.content, headers=headers
    )
    try:
        payload = response.json()
    except ValueError:
        payload = None
    return response.status_code, payload


def outcome(key: tuple[str, str], status: int, payload: Any, world: World, scope: str) -> int | str:
    """The status, or for the sync endpoints (always 200) what the answer says about scope."""
    if status != 200 or key not in (("POST", "/api/sync/push"), ("POST", "/api/sync/pull")):
        return status
    if key[1] == "/api/sync/push":
        result = payload["results"][0]
        return "applied" if result["status"] == "applied" else str(result.get("code"))
    warehouse = world.warehouse(scope)
    if warehouse in payload["scope"]:
        return "in_scope"
    leaked = [c for c in payload["changes"] if c["warehouse_id"] == warehouse]
    return "dropped" if warehouse in payload["drop"] and not leaked else "LEAK"


def expected(route: Route, principal: str, scope: str) -> int | str:
    if route.public is not None:
        chosen: Expect = route.public
    elif principal in DENIED:
        return 401
    else:
        chosen = route.expect[principal]
    if isinstance(chosen, tuple):
        return chosen[0] if scope == OWN else chosen[1]
    return chosen


@pytest.mark.parametrize("key", list(ROUTES), ids=lambda k: f"{k[0]} {k[1]}")
async def test_route_authorization(world: World, key: tuple[str, str]) -> None:
    route = ROUTES[key]
    if route.public is None:
        assert set(route.expect) == set(AUTHED), f"{key}: state the outcome for every role"
    wrong = []
    for principal in PRINCIPALS:
        for scope in SCOPES:
            status, payload = await call(world, key, principal, scope)
            got = outcome(key, status, payload, world, scope)
            want = expected(route, principal, scope)
            if got != want:
                wrong.append(f"{principal}/{scope}: expected {want}, got {got} {str(payload)[:160]}")
            if status == 401 and isinstance(payload, dict):
                assert payload.get("code") == "unauthorized", payload
            if status == 403 and isinstance(payload, dict):
                assert payload.get("code") in ("forbidden", "out_of_scope"), payload
    assert not wrong, "\n".join(wrong)


async def test_options_requests_reveal_nothing_and_allow_no_origin(world: World) -> None:
    for method, path in sorted(ROUTES):
        req = ROUTES[(method, path)].build(world, OWN)
        concrete = (await req if asyncio.iscoroutine(req) else req).path.split("?")[0]
        response = await world.client.options(
            concrete, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": method}
        )
        # 204 with Allow, or 401/403 where the route's guards run first: never anything more.
        assert response.status_code in (200, 204, 401, 403), (concrete, response.status_code)
        if response.status_code in (200, 204):
            assert not response.content, concrete
        else:
            assert response.json()["code"] in ("unauthorized", "forbidden"), concrete
        assert not [h for h in response.headers if h.lower().startswith("access-control-")], concrete
