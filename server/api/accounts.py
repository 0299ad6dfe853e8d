"""Login, logout, the current user and their colleagues."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody, QueryParameter

from server.auth import Accounts, check_scope, require_login
from server.deps import ActorDep, SessionDep, StorageDep
from server.models import AGENCY_NAMES, Colleague, LoginRequest, LoginResponse, MeResponse


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]  # noqa: RUF012

    @post("/login", status_code=200, security=[])
    async def login(self, request: Request[Any, Any, Any], data: JSONBody[LoginRequest]) -> LoginResponse:
        """Log in on a device; answers a bearer token for `Authorization: Bearer <token>`."""
        accounts: Accounts = request.app.state.accounts
        address = request.client.host if request.client else "unknown"
        token, user, device = await accounts.login(
            data.username,
            data.password,
            device_name=data.device_name,
            device_model=data.device_model,
            client_id=data.client_id,
            address=address,
        )
        return LoginResponse(token=token, user=user, expires_at=device.expires_at)

    @post("/logout", status_code=204, guards=[require_login])
    async def logout(self, request: Request[Any, Any, Any], session: SessionDep) -> None:
        """Revoke the token of this device."""
        accounts: Accounts = request.app.state.accounts
        await accounts.logout(session)


class MeController(Controller):
    path = "/api"
    tags = ["accounts"]  # noqa: RUF012
    guards = [require_login]  # noqa: RUF012

    @get("/me")
    async def me(self, session: SessionDep, storage: StorageDep) -> MeResponse:
        """The logged-in user, the warehouses in their scope and this device's client id."""
        warehouses = await storage.warehouses(sorted(session.actor.warehouses))
        return MeResponse(
            user=session.user,
            warehouses=warehouses,
            client_id=session.device.client_id,
            agencies=AGENCY_NAMES,
        )

    @get("/users/colleagues")
    async def colleagues(
        self,
        actor: ActorDep,
        storage: StorageDep,
        warehouse_id: Annotated[str, QueryParameter(min_length=1, max_length=64)],
    ) -> list[Colleague]:
        """People assigned to a warehouse, for choosing co-inspectors."""
        check_scope(actor, warehouse_id)
        return [
            Colleague(id=u.id, full_name=u.full_name, agency=u.agency, rank=u.rank)
            for u in await storage.users_in_warehouse(warehouse_id)
            if not u.disabled
        ]
