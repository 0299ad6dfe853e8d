"""Reference data the phones cache: warehouses in scope, checklist templates, stock item types."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import PathParameter, QueryParameter

from server.auth import require_login
from server.deps import ActorDep, StorageDep
from server.errors import ApiError
from server.models import StockItemType, Warehouse
from sync.domain import Template

DEFAULT_TEMPLATE = "gudang_logistik"


class ReferenceController(Controller):
    path = "/api"
    tags = ["reference"]  # noqa: RUF012
    guards = [require_login]  # noqa: RUF012

    @get("/warehouses")
    async def warehouses(self, actor: ActorDep, storage: StorageDep) -> list[Warehouse]:
        """Warehouses in the user's scope."""
        return await storage.warehouses(sorted(actor.warehouses))

    @get("/templates/current")
    async def current_template(
        self,
        storage: StorageDep,
        code: Annotated[str, QueryParameter(pattern=r"^[a-z0-9_]{1,48}$")] = DEFAULT_TEMPLATE,
    ) -> Template:
        """The latest published version of a checklist template."""
        template = await storage.current_template(code)
        if template is None:
            raise ApiError(404, "template_not_found", f"Template {code} belum diterbitkan")
        return template

    @get("/templates/{template_id:str}")
    async def template(
        self, storage: StorageDep, template_id: Annotated[str, PathParameter(min_length=1, max_length=64)]
    ) -> Template:
        """One template version by id (old versions stay available for old inspections)."""
        template = await storage.get_template(template_id)
        if template is None:
            raise ApiError(404, "template_not_found", "Template tidak ditemukan", template_id=template_id)
        return template

    @get("/stock-items")
    async def stock_items(self, storage: StorageDep) -> list[StockItemType]:
        """Kinds of logistics that are counted."""
        return [item for item in await storage.stock_item_types() if item.active]
