"""Server-side domain model: agencies, warehouses, users, devices, stock item types, and the
request/response shapes of the account and reference endpoints.

Inputs (`*Input`, `LoginRequest`) forbid unknown fields so a typo in a client is a 400, never a
silently dropped value. Inspections, incidents and stock counts are not here: they are synced
records whose fields are defined in sync/collections.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from msgspec import Meta, Struct

from sync.domain import AGENCIES, Agency, Code, Role, Template
from sync.messages import ClientId, Id

__all__ = [
    "AGENCIES",
    "AGENCY_NAMES",
    "ROLES",
    "Colleague",
    "Device",
    "LoginRequest",
    "LoginResponse",
    "MeResponse",
    "StockItemType",
    "Template",
    "User",
    "UserInput",
    "Warehouse",
    "iso",
    "now_iso",
]

ROLES: tuple[Role, ...] = ("officer", "supervisor", "admin")

AGENCY_NAMES: dict[str, str] = {
    "POLRI": "Kepolisian Negara Republik Indonesia",
    "TNI": "Tentara Nasional Indonesia",
    "SATPOL_PP": "Satuan Polisi Pamong Praja",
    "DISHUB": "Dinas Perhubungan",
    "FKDM": "Forum Kewaspadaan Dini Masyarakat",
    "KPU": "Komisi Pemilihan Umum",
    "BAWASLU": "Badan Pengawas Pemilihan Umum",
}

Username = Annotated[str, Meta(min_length=2, max_length=32, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
Name = Annotated[str, Meta(min_length=1, max_length=120)]
Short = Annotated[str, Meta(max_length=60)]
Text = Annotated[str, Meta(max_length=300)]


def iso(moment: datetime) -> str:
    """UTC timestamp as stored and sent everywhere: 2024-02-14T08:30:00.000Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso(offset: timedelta = timedelta(0)) -> str:
    return iso(datetime.now(UTC) + offset)


class Warehouse(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A guarded logistics warehouse (gudang), e.g. a floor of a kecamatan office."""

    id: Id
    code: Code
    name: Name
    address: Text = ""
    kelurahan: Short = ""
    kecamatan: Short = ""
    kota: Short = ""
    floor_room: Short = ""
    active: bool = True


class User(Struct, kw_only=True, frozen=True):
    """An account as the API shows it (never with the password hash)."""

    id: str
    username: str
    full_name: str
    agency: str
    rank: str = ""
    id_number: str = ""
    """NRP (Polri/TNI), NIP (civil servants) or NRK (Jakarta regional staff)."""
    role: Role = "officer"
    warehouses: list[str] = []
    """Ids of the assigned warehouses."""
    disabled: bool = False


class UserInput(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A new account, as the CLI or an admin endpoint supplies it."""

    username: Username
    full_name: Name
    agency: Agency
    role: Role = "officer"
    rank: Short = ""
    id_number: Short = ""
    warehouses: list[Id] = []


class Colleague(Struct, kw_only=True, frozen=True):
    """What an officer may see of the people assigned to the same warehouse."""

    id: str
    full_name: str
    agency: str
    rank: str = ""


class Device(Struct, kw_only=True, frozen=True):
    """A logged-in device. The bearer token itself is never stored, only its SHA-256."""

    id: str
    user_id: str
    name: str
    """What the officer called the phone at login ("HP regu pagi"); an admin may rename it."""
    client_id: str
    created_at: str
    last_seen: str
    expires_at: str
    revoked_at: str | None = None
    model: str = ""
    """The model the browser reported at login ("SM-A055F"), empty when it reported none."""

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class StockItemType(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A kind of election logistics counted in stock counts, e.g. surat_suara_dprd."""

    code: Code
    name: Name
    unit: Annotated[str, Meta(min_length=1, max_length=30)]
    sort_order: int = 0
    active: bool = True


class LoginRequest(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    username: Annotated[str, Meta(min_length=1, max_length=64)]
    password: Annotated[str, Meta(min_length=1, max_length=1024)]
    device_name: Annotated[str, Meta(min_length=1, max_length=100)]
    """The name the officer gives this phone, shown wherever the device appears."""
    client_id: ClientId
    device_model: Annotated[str, Meta(max_length=100)] = ""
    """The model the browser reports (navigator.userAgentData or the user agent)."""


class DeviceLabel(Struct, kw_only=True, frozen=True):
    """How a device is shown to people: its name and model, and whose it is."""

    name: str
    model: str = ""
    user_id: str = ""


class DeviceRename(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=100)]


class LoginResponse(Struct, kw_only=True, frozen=True):
    token: str
    user: User
    expires_at: str


class MeResponse(Struct, kw_only=True, frozen=True):
    user: User
    warehouses: list[Warehouse]
    """Full objects of the warehouses in scope."""
    client_id: str
    agencies: dict[str, str]
