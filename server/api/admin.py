"""Administration: accounts, devices, warehouses and checklist templates. Admins only.

Scope: an admin without assignments administers everything. An admin assigned to warehouses
administers the officers and supervisors of those warehouses only (never other admins), may assign
only those warehouses and edit only those warehouses; creating warehouses and publishing templates
(which concern everyone) is left to an unassigned admin. Every change is written to the audit log.

Bodies are decoded strictly (server.api.wire.WireBody): `"disabled": 0` or `"disabled": "true"` is
400 invalid_request, never taken for a boolean, and a number is never taken from a string.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import yaml
from litestar import Controller, Request, get, patch, post, put
from litestar.openapi.spec import OpenAPIMediaType, Operation, Reference, RequestBody
from litestar.params import JSONBody, Parameter
from msgspec import Meta, Struct

from server.api.wire import WireBody, refuse_deep_nesting, refuse_nul
from server.auth import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    Accounts,
    Session,
    audit_entry,
    check_password_strength,
    require_role,
)
from server.deps import SessionDep, StorageDep
from server.errors import ApiError
from server.models import Device, DeviceRename, Name, Short, User, UserInput, Username, Warehouse, now_iso
from server.storage import Conflict, Storage, StorageError
from server.storage.base import StorageUnavailable
from sync.answers import normalise_text
from sync.domain import TEMPLATE_LANGUAGES, YES_NO_VALUES, Agency, Role, Template
from sync.messages import Id

ADMINS = require_role("admin")
MAX_TEMPLATE_BYTES = 512 * 1024

Password = Annotated[str, Meta(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]


class NewUser(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    username: Username
    full_name: Name
    agency: Agency
    role: Role = "officer"
    rank: Short = ""
    id_number: Short = ""
    warehouses: list[Id] = []
    password: Password


class UserChange(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Only the fields given change."""

    warehouses: list[Id] | None = None
    disabled: bool | None = None
    password: Password | None = None


class Revoked(Struct, kw_only=True, frozen=True):
    revoked: bool


def _global(session: Session) -> bool:
    return not session.user.warehouses


def _require_global(session: Session, what: str) -> None:
    if not _global(session):
        raise ApiError(403, "forbidden", f"Hanya admin tanpa penugasan gudang yang dapat {what}")


def _check_assignable(session: Session, warehouses: list[str]) -> None:
    if _global(session):
        return
    outside = sorted(set(warehouses) - session.actor.warehouses)
    if outside:
        raise ApiError(403, "out_of_scope", "Gudang di luar penugasan Anda", warehouse_ids=outside)


def _manageable(session: Session, user: User) -> bool:
    if _global(session):
        return True
    return user.role != "admin" and bool(user.warehouses) and set(user.warehouses) <= session.actor.warehouses


async def _user_or_404(session: Session, storage: Storage, user_id: str) -> User:
    user = await storage.user(user_id)
    if user is None or not _manageable(session, user):
        raise ApiError(404, "user_not_found", "Pengguna tidak ditemukan", user_id=user_id)
    return user


def _audit(session: Session, kind: str, subject: str, **detail: Any) -> Any:
    return audit_entry(
        kind,
        actor_id=session.user.id,
        actor_agency=session.user.agency,
        device=session.device.id,
        subject=subject,
        **detail,
    )


def _untranslated(text: object, at: str, *, optional: bool = False) -> list[str]:
    """A text of a template needs every language of TEMPLATE_LANGUAGES (help and units may be
    left out altogether): an officer reading English must not meet an Indonesian-only label."""
    if optional and text in ("", {}):
        return []
    if not isinstance(text, dict):
        return [f"give this text per language ({', '.join(TEMPLATE_LANGUAGES)}) - at `{at}`"]
    return [
        f"missing the {lang!r} text - at `{at}`"
        for lang in TEMPLATE_LANGUAGES
        if not str(text.get(lang, "")).strip()
    ]


def check_template(template: Template) -> list[str]:
    """Rules msgspec's types cannot say: unique codes, sensible choices and finding rules, and
    every section, item, choice, help text and unit in every language."""
    problems: list[str] = _untranslated(template.title, "$.title")
    sections: set[str] = set()
    items: set[str] = set()
    for s, section in enumerate(template.sections):
        problems += _untranslated(section.title, f"$.sections[{s}].title")
        if section.code in sections:
            problems.append(f"duplicate section code {section.code!r} - at `$.sections[{s}].code`")
        sections.add(section.code)
        for i, item in enumerate(section.items):
            at = f"$.sections[{s}].items[{i}]"
            if item.code in items:
                problems.append(f"duplicate item code {item.code!r} - at `{at}.code`")
            items.add(item.code)
            problems += _untranslated(item.label, f"{at}.label")
            problems += _untranslated(item.help, f"{at}.help", optional=True)
            problems += _untranslated(item.unit, f"{at}.unit", optional=True)
            if item.kind == "choice" and not item.choices:
                problems.append(f"a choice item needs choices - at `{at}.choices`")
            for choice in item.choices:
                if choice not in item.choice_labels:
                    problems.append(f"choice {choice!r} has no label - at `{at}.choice_labels`")
                else:
                    problems += _untranslated(item.choice_labels[choice], f"{at}.choice_labels.{choice}")
            for extra in sorted(set(item.choice_labels) - set(item.choices)):
                problems.append(f"{extra!r} is not a choice of this item - at `{at}.choice_labels`")
            allowed = YES_NO_VALUES if item.kind == "yes_no" else tuple(item.choices)
            for f, value in enumerate(item.finding_if):
                if item.kind not in ("yes_no", "choice"):
                    problems.append(
                        f"finding_if applies to yes_no and choice items only - at `{at}.finding_if`"
                    )
                    break
                if value not in allowed:
                    problems.append(f"{value!r} is not an answer of this item - at `{at}.finding_if[{f}]`")
            if item.stock_item and item.kind != "number":
                problems.append(f"stock_item needs a number item - at `{at}.stock_item`")
            bounded = item.min is not None and item.max is not None
            if item.kind == "number" and bounded and item.min > item.max:  # type: ignore[operator]
                problems.append(f"min is above max - at `{at}.min`")
            if item.stock_item and (not item.integer or item.min is None or item.min < 0):
                problems.append(f"a stock count is a whole number from 0 - at `{at}.integer`")
    return problems


@dataclass
class TemplateUpload(Operation):
    """The template upload's OpenAPI operation: its body is read raw (JSON or YAML, checked by
    parse_template), so the schema of that body is stated here rather than inferred."""

    def __post_init__(self) -> None:
        template = OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Template"))
        self.request_body = RequestBody(
            content={"application/json": template, "application/yaml": template},
            required=True,
            description="A checklist template version (JSON, or the same document in YAML).",
        )


def parse_template(body: bytes, content_type: str) -> Template:
    """A template from an uploaded JSON or YAML document, or 400 with where it is wrong."""
    if not body.strip():
        raise ApiError(400, "empty_body", "Berkas template kosong")
    refuse_deep_nesting(body)  # JSON, and YAML's flow style ([...], {...})
    try:
        if "yaml" in content_type or not body.lstrip().startswith((b"{", b"[")):
            document = yaml.safe_load(body.decode("utf-8"))
        else:
            document = msgspec.json.decode(body)
        template = msgspec.convert(document, Template)
    except (yaml.YAMLError, msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "template_unreadable", f"Bukan JSON/YAML yang sah: {exc}") from exc
    except msgspec.ValidationError as exc:
        raise ApiError(400, "template_invalid", str(exc), errors=[str(exc)]) from exc
    except RecursionError as exc:  # YAML's block style nests by indentation, which no scan bounds
        raise ApiError(400, "template_unreadable", "Dokumen bersarang terlalu dalam") from exc
    # The body is not JSON when it is YAML ("\0", "\x00"...): look for NUL in what was read.
    refuse_nul(msgspec.json.encode(template))
    problems = check_template(template)
    if problems:
        raise ApiError(400, "template_invalid", problems[0], errors=problems)
    return template


class AdminController(Controller):
    path = "/api/admin"
    tags = ["admin"]  # noqa: RUF012
    guards = [ADMINS]  # noqa: RUF012

    # -- users -------------------------------------------------------------------------------------
    @get("/users")
    async def users(self, session: SessionDep, storage: StorageDep) -> list[User]:
        """Accounts this admin manages."""
        return [u for u in await storage.users() if _manageable(session, u)]

    @post("/users", status_code=201, dto=WireBody[NewUser], return_dto=None)
    async def create_user(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[NewUser],
        session: SessionDep,
        storage: StorageDep,
    ) -> User:
        """Create an account with an initial password (tell the user to change it)."""
        if data.role == "admin" and not _global(session):
            raise ApiError(403, "forbidden", "Hanya admin tanpa penugasan yang dapat membuat admin")
        _check_assignable(session, data.warehouses)
        problem = check_password_strength(data.password)
        if problem:
            raise ApiError(400, "weak_password", problem)
        accounts: Accounts = request.app.state.accounts
        fields = msgspec.structs.asdict(data)
        fields.pop("password")
        try:
            user = await storage.create_user(
                str(uuid.uuid4()), UserInput(**fields), await accounts.passwords.hash(data.password)
            )
        except Conflict as exc:
            raise ApiError(
                409, "username_taken", "Nama pengguna sudah dipakai", username=data.username
            ) from exc
        except StorageUnavailable:
            raise  # 503, not an unknown warehouse
        except StorageError as exc:
            raise ApiError(400, "unknown_warehouse", str(exc)) from exc
        await storage.append_audit(
            _audit(
                session,
                "user.created",
                user.id,
                username=user.username,
                role=user.role,
                agency=user.agency,
                warehouses=user.warehouses,
            )
        )
        return user

    @patch("/users/{user_id:str}", dto=WireBody[UserChange], return_dto=None)
    async def change_user(
        self,
        request: Request[Any, Any, Any],
        user_id: Annotated[str, Parameter(max_length=64)],
        data: JSONBody[UserChange],
        session: SessionDep,
        storage: StorageDep,
    ) -> User:
        """Assign warehouses, disable or enable, or set a new password (which, like disabling,
        logs the user out of every device)."""
        user = await _user_or_404(session, storage, user_id)
        accounts: Accounts = request.app.state.accounts
        # Everything that can refuse the change is checked before any part of it is made.
        if data.warehouses is not None:
            _check_assignable(session, data.warehouses)
        if data.disabled and not user.disabled and user.id == session.user.id:
            raise ApiError(409, "cannot_disable_self", "Anda tidak dapat menonaktifkan akun sendiri")
        problem = check_password_strength(data.password) if data.password is not None else None
        if problem:
            raise ApiError(400, "weak_password", problem)
        if data.warehouses is not None:
            try:
                await storage.assign(user.id, data.warehouses)
            except StorageUnavailable:
                raise  # 503, not an unknown warehouse
            except StorageError as exc:
                raise ApiError(400, "unknown_warehouse", str(exc)) from exc
            await storage.append_audit(_audit(session, "user.assigned", user.id, warehouses=data.warehouses))
        if data.disabled is not None and data.disabled != user.disabled:
            await storage.set_disabled(user.id, data.disabled)
            revoked = await storage.revoke_devices(user.id, now_iso()) if data.disabled else 0
            kind = "user.disabled" if data.disabled else "user.enabled"
            await storage.append_audit(_audit(session, kind, user.id, revoked_tokens=revoked))
        if data.password is not None:
            await storage.set_password(user.id, await accounts.passwords.hash(data.password))
            revoked = await storage.revoke_devices(user.id, now_iso())
            await storage.append_audit(
                _audit(session, "user.password_changed", user.id, revoked_tokens=revoked)
            )
        if data.warehouses is not None or data.disabled is not None or data.password is not None:
            accounts.on_change()  # open live streams of this user check their session now
        return await _user_or_404(session, storage, user_id)

    @get("/users/{user_id:str}/devices")
    async def devices(
        self, user_id: Annotated[str, Parameter(max_length=64)], session: SessionDep, storage: StorageDep
    ) -> list[Device]:
        """The user's logged-in devices (revoked ones included, with revoked_at)."""
        user = await _user_or_404(session, storage, user_id)
        return await storage.devices(user.id)

    @post("/users/{user_id:str}/devices/{device_id:str}/revoke", status_code=200)
    async def revoke_device(
        self,
        request: Request[Any, Any, Any],
        user_id: Annotated[str, Parameter(max_length=64)],
        device_id: Annotated[str, Parameter(max_length=64)],
        session: SessionDep,
        storage: StorageDep,
    ) -> Revoked:
        """Revoke one device's token (a lost or shared phone). Its unsynced edits stay on it."""
        user = await _user_or_404(session, storage, user_id)
        device = next((d for d in await storage.devices(user.id) if d.id == device_id), None)
        if device is None:
            raise ApiError(404, "device_not_found", "Perangkat tidak ditemukan", device_id=device_id)
        accounts: Accounts = request.app.state.accounts
        return Revoked(revoked=await accounts.revoke(session, device))

    @patch("/users/{user_id:str}/devices/{device_id:str}")
    async def rename_device(
        self,
        user_id: Annotated[str, Parameter(max_length=64)],
        device_id: Annotated[str, Parameter(max_length=64)],
        data: JSONBody[DeviceRename],
        session: SessionDep,
        storage: StorageDep,
    ) -> Device:
        """Rename a device ("HP pos jaga 2"): the name shown wherever the device appears (audit
        trail, histories, the overview). Audited with the old and the new name."""
        user = await _user_or_404(session, storage, user_id)
        device = next((d for d in await storage.devices(user.id) if d.id == device_id), None)
        if device is None:
            raise ApiError(404, "device_not_found", "Perangkat tidak ditemukan", device_id=device_id)
        name = normalise_text(data.name)
        if not name:
            raise ApiError(400, "invalid_request", "Nama perangkat tidak boleh kosong")
        await storage.rename_device(device.id, name)
        await storage.append_audit(_audit(session, "device.renamed", device.id, old=device.name, new=name))
        return msgspec.structs.replace(device, name=name)

    # -- warehouses --------------------------------------------------------------------------------
    @get("/warehouses")
    async def warehouses(self, session: SessionDep, storage: StorageDep) -> list[Warehouse]:
        """Every warehouse this admin administers, inactive ones included."""
        return await storage.warehouses(None if _global(session) else sorted(session.actor.warehouses))

    @post("/warehouses", status_code=201, dto=WireBody[Warehouse], return_dto=None)
    async def create_warehouse(
        self, data: JSONBody[Warehouse], session: SessionDep, storage: StorageDep
    ) -> Warehouse:
        _require_global(session, "menambah gudang")
        if await storage.warehouse(data.id) is not None:
            raise ApiError(409, "warehouse_exists", "Id gudang sudah dipakai", warehouse_id=data.id)
        try:
            await storage.put_warehouse(data)
        except Conflict as exc:
            raise ApiError(
                409, "warehouse_code_taken", "Kode gudang sudah dipakai", warehouse_code=data.code
            ) from exc
        await storage.append_audit(
            _audit(session, "warehouse.created", data.id, warehouse=msgspec.structs.asdict(data))
        )
        return data

    @put("/warehouses/{warehouse_id:str}", dto=WireBody[Warehouse], return_dto=None)
    async def update_warehouse(
        self,
        warehouse_id: Annotated[str, Parameter(max_length=64)],
        data: JSONBody[Warehouse],
        session: SessionDep,
        storage: StorageDep,
    ) -> Warehouse:
        if data.id != warehouse_id:
            raise ApiError(400, "id_mismatch", "Id gudang tidak dapat diubah", warehouse_id=warehouse_id)
        before = await storage.warehouse(warehouse_id)
        if before is None or not (_global(session) or warehouse_id in session.actor.warehouses):
            raise ApiError(404, "warehouse_not_found", "Gudang tidak ditemukan", warehouse_id=warehouse_id)
        try:
            await storage.put_warehouse(data)
        except Conflict as exc:
            raise ApiError(
                409, "warehouse_code_taken", "Kode gudang sudah dipakai", warehouse_code=data.code
            ) from exc
        old, new = msgspec.structs.asdict(before), msgspec.structs.asdict(data)
        changes = {k: [old[k], new[k]] for k in new if old.get(k) != new[k]}
        await storage.append_audit(_audit(session, "warehouse.updated", data.id, changes=changes))
        return data

    # -- templates ---------------------------------------------------------------------------------
    @post(
        "/templates",
        status_code=201,
        request_max_body_size=MAX_TEMPLATE_BYTES,
        operation_class=TemplateUpload,
    )
    async def publish_template(
        self, request: Request[Any, Any, Any], session: SessionDep, storage: StorageDep
    ) -> Template:
        """Publish a new template version from a JSON or YAML document (Content-Type
        application/json or application/yaml). The id defaults to `<code>-v<version>`; the version
        must be newer than the published one. Published templates never change."""
        _require_global(session, "menerbitkan template")
        template = parse_template(await request.body(), request.headers.get("content-type", ""))
        if not template.id:
            template = msgspec.structs.replace(template, id=f"{template.code}-v{template.version}")
        current = await storage.current_template(template.code)
        if current is not None and template.version <= current.version:
            raise ApiError(
                409,
                "version_not_newer",
                f"Versi harus lebih besar dari {current.version}",
                current_version=current.version,
            )
        try:
            await storage.put_template(template, published=True)
        except Conflict as exc:
            raise ApiError(
                409, "template_exists", "Template dengan id ini sudah ada", id=template.id
            ) from exc
        await storage.append_audit(
            _audit(
                session,
                "template.published",
                template.id,
                code=template.code,
                version=template.version,
                items=len(template.items()),
            )
        )
        return template
