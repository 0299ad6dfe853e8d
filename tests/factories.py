"""Factories for domain objects: warehouses, users, device tokens, reference data.

Passwords are hashed with cheap Argon2 parameters so tests stay fast; the server verifies any
Argon2 hash whatever its parameters.
"""

from __future__ import annotations

import io
import itertools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from PIL import Image

from server import summaries
from server.auth import Passwords, new_token
from server.models import Device, User, UserInput, Warehouse, iso
from server.seed import install_reference_data
from server.storage import Storage
from server.storage.base import AuditRow
from sync.domain import Role

PASSWORD = "kata-sandi-uji"
FAST_PASSWORDS = Passwords(time_cost=1, memory_kib=8, parallelism=1)

_numbers = itertools.count(1)


def scan_bomb(
    width: int = 2000, height: int = 2000, repeats: int = 200, colour: tuple[int, int, int] = (120, 130, 140)
) -> bytes:
    """A progressive JPEG of one colour whose last scan is repeated `repeats` times: small on the
    wire (the repeated scan is a few bytes), slow to decode (every scan goes over the whole image;
    6000 x 6000 with 200 repeats is some 0.2 MiB and takes seconds)."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "JPEG", progressive=True, quality=50)
    data = out.getvalue()
    pos, last = 2, (0, 0)
    while data[pos + 1] != 0xD9:  # walk the segments to EOI, noting where the last scan is
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if data[pos + 1] != 0xDA:
            pos += 2 + length
            continue
        end = pos + 2 + length
        while data[end] != 0xFF or data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
            end += 1
        last, pos = (pos, end), end
    return data[:pos] + data[last[0] : last[1]] * repeats + data[pos:]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Factory:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def warehouse(self, **overrides: object) -> Warehouse:
        n = next(_numbers)
        fields: dict[str, object] = {
            "id": f"gd-uji-{n}",
            "code": f"gudang_uji_{n}",
            "name": f"Gudang Logistik KPU Kecamatan Uji {n}",
            "address": f"Jl. Percobaan No. {n}",
            "kelurahan": "Johar Baru",
            "kecamatan": "Johar Baru",
            "kota": "Jakarta Pusat",
            "floor_room": "lantai 4",
        }
        fields.update(overrides)
        warehouse = Warehouse(**fields)  # type: ignore[arg-type]
        await self.storage.put_warehouse(warehouse)
        return warehouse

    async def user(
        self,
        *,
        username: str | None = None,
        role: Role = "officer",
        agency: str = "POLRI",
        warehouses: Sequence[Warehouse | str] = (),
        password: str = PASSWORD,
        disabled: bool = False,
        full_name: str | None = None,
        rank: str = "Bripka",
    ) -> User:
        n = next(_numbers)
        ids = [w if isinstance(w, str) else w.id for w in warehouses]
        user = await self.storage.create_user(
            str(uuid.uuid4()),
            UserInput(
                username=username or f"petugas{n}",
                full_name=full_name or f"Petugas Uji {n}",
                agency=agency,
                role=role,
                rank=rank,
                id_number=f"8{n:07d}",
                warehouses=ids,
            ),
            FAST_PASSWORDS.hash_sync(password),
        )
        if disabled:
            await self.storage.set_disabled(user.id, True)
            found = await self.storage.user(user.id)
            assert found is not None
            user = found
        return user

    async def token(
        self,
        user: User,
        *,
        client_id: str | None = None,
        device_name: str = "HP uji",
        expires_in: timedelta = timedelta(days=90),
    ) -> str:
        """A bearer token for a device of `user`, made directly in storage (no login)."""
        token, digest = new_token()
        now = datetime.now(UTC)
        await self.storage.create_device(
            Device(
                id=str(uuid.uuid4()),
                user_id=user.id,
                name=device_name,
                client_id=client_id or f"client-{uuid.uuid4().hex[:12]}",
                created_at=iso(now),
                last_seen=iso(now),
                expires_at=iso(now + expires_in),
            ),
            digest,
        )
        return token

    async def officer_with_token(self, *warehouses: Warehouse, **kwargs: object) -> tuple[User, str]:
        user = await self.user(warehouses=warehouses, **kwargs)  # type: ignore[arg-type]
        return user, await self.token(user)

    async def reference_data(self) -> None:
        await install_reference_data(self.storage)


async def every_audit_row(storage: Storage) -> list[AuditRow]:
    """Every entry of every chain (the system chain first, then each warehouse's), each chain in
    id order: what a test that looks for an entry wherever it was filed reads."""
    return [row for chain in await storage.audit_chains() async for row in storage.audit_rows(chain)]


async def holding_summaries_are_folds(storage: Storage, warehouse_ids: Sequence[str]) -> set[str]:
    """Each warehouse's overview summary (server/summaries.py) that holds at its warehouse's
    counter, as the pushes left it, equals a fold of its records from scratch (the reference);
    returns the warehouses whose summary holds."""
    ids = sorted(warehouse_ids)
    items = await storage.stock_item_types()
    key = summaries.items_key(items)
    records = [r async for r in storage.iter_records(ids, summaries.OVERVIEW_COLLECTIONS)]
    templates = {i: t for i in summaries.template_ids(records) if (t := await storage.get_template(i))}
    folds = summaries.fold(ids, records, templates, items)
    holding = summaries.valid_folds(await storage.warehouse_summaries(ids), key)
    shown = {w: summaries.shown(f) for w, f in holding.items()}
    assert shown == {w: summaries.shown(folds[w]) for w in holding}, "a summary that holds is not the fold"
    return set(holding)


async def assert_summaries_are_folds(
    storage: Storage, warehouse_ids: Sequence[str], *, held: Sequence[str] = ()
) -> None:
    """holding_summaries_are_folds(), and those of `held` hold (the pushes brought them along);
    then the overview reads them, after which every one holds (those that did not are refolded
    and kept) and still equals the fold."""
    from litestar.datastructures import State

    from server.overview import build_overview
    from server.reports import Settings

    ids = sorted(warehouse_ids)
    holding = await holding_summaries_are_folds(storage, ids)
    assert set(held) <= holding, f"summaries the pushes should have brought along: {set(held) - holding}"
    await build_overview(storage, State(), ids, settings=Settings())
    stored = await storage.warehouse_summaries(ids)
    assert sorted(stored) == ids, "the overview kept no summary of a warehouse"
    behind = {w: (s.revision, s.current) for w, s in stored.items() if s.revision != s.current}
    assert not behind, f"summaries behind their warehouse's counter after the overview: {behind}"
    assert await holding_summaries_are_folds(storage, ids) == set(ids), "a kept summary is not the fold"
