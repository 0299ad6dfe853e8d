"""Accounts and reference data of the SQLite backend: warehouses, users and their assignments,
devices (bearer tokens), failed-login throttling, templates and stock item types."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiosqlite
import msgspec

from server.models import Device, DeviceLabel, StockItemType, User, UserInput, Warehouse, now_iso
from server.storage import device_sync as ds
from server.storage.base import Conflict, StorageError, device_labels, first_failure
from server.storage.sqlite.sync_tx import json_list
from sync.domain import Template, text_in

_DEVICE_SYNC_OF_USER = ds.sqlite(ds.DEVICE_SYNC_OF_USER)
_DEVICE_SYNC_OF_DEVICE = ds.sqlite(ds.DEVICE_SYNC_OF_DEVICE)
_FORGET_USER = ds.sqlite(ds.FORGET_USER)
_FORGET_DEVICE = ds.sqlite(ds.FORGET_DEVICE)
_FORGET_REVOKED = ds.sqlite(ds.FORGET_REVOKED)

_template = msgspec.json.Decoder(Template).decode

_WAREHOUSE_COLUMNS = "id, code, name, address, kelurahan, kecamatan, kota, floor_room, active"
_USER_COLUMNS = "id, username, full_name, agency, rank, id_number, role, disabled"
_DEVICE_COLUMNS = "id, user_id, name, client_id, created_at, last_seen, expires_at, revoked_at"
_DEVICE_AND_USER = (
    "SELECT d.id, d.user_id, d.name, d.client_id, d.created_at, d.last_seen, d.expires_at, d.revoked_at,"
    " u.id, u.username, u.full_name, u.agency, u.rank, u.id_number, u.role, u.disabled,"
    " (SELECT json_group_array(a.warehouse_id) FROM assignments AS a WHERE a.user_id = u.id)"
    " FROM devices AS d JOIN users AS u ON u.id = d.user_id WHERE d.token_hash = ?"
)
_str_list = msgspec.json.Decoder(list[str]).decode

# One failed login, as one statement: the count, the window and the lockout are computed by SQLite
# from the row as it stands, under the database's write lock (see record_login_failure). In the
# UPDATE every column reference is the row's value before this failure.
_FRESH = "(failures = 0 OR window_start <= :now - :window_s)"
"""This failure opens a new window: none counted yet, or the window is over."""
_COUNT = f"(CASE WHEN {_FRESH} THEN 1 ELSE failures + 1 END)"
_LOCKS = f"({_COUNT} >= :limit)"
_RECORD_FAILURE = f"""
INSERT INTO login_failures (key, failures, window_start, last_failure, locked_until, lockouts)
VALUES (:key, :failures, :now, :now, :locked_until, :lockouts)
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN {_LOCKS} THEN 0 ELSE {_COUNT} END,
    window_start = CASE WHEN {_FRESH} THEN :now ELSE window_start END,
    last_failure = max(last_failure, :now),
    locked_until = CASE WHEN {_LOCKS}
        THEN max(locked_until, :now + min(:max_lockout_s, :lockout_s << min(lockouts, 30)))
        ELSE locked_until END,
    lockouts = lockouts + CASE WHEN {_LOCKS} THEN 1 ELSE 0 END
"""


def _warehouse(row: Sequence[Any]) -> Warehouse:
    return Warehouse(
        id=row[0],
        code=row[1],
        name=row[2],
        address=row[3],
        kelurahan=row[4],
        kecamatan=row[5],
        kota=row[6],
        floor_room=row[7],
        active=bool(row[8]),
    )


def _user(row: Sequence[Any], warehouses: list[str]) -> User:
    return User(
        id=row[0],
        username=row[1],
        full_name=row[2],
        agency=row[3],
        rank=row[4],
        id_number=row[5],
        role=row[6],
        disabled=bool(row[7]),
        warehouses=warehouses,
    )


def _device(row: Sequence[Any]) -> Device:
    return Device(
        id=row[0],
        user_id=row[1],
        name=row[2],
        client_id=row[3],
        created_at=row[4],
        last_seen=row[5],
        expires_at=row[6],
        revoked_at=row[7],
        model=row[8] if len(row) > 8 else "",
    )


class AccountsMixin:
    def _reading(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        raise NotImplementedError

    def _writing(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        raise NotImplementedError

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        async with self._reading() as conn:
            return list(await conn.execute_fetchall(sql, params))

    # -- warehouses --------------------------------------------------------------------------------
    async def put_warehouse(self, warehouse: Warehouse) -> None:
        w = warehouse
        try:
            async with self._writing() as conn:
                await conn.execute(
                    f"INSERT INTO warehouses ({_WAREHOUSE_COLUMNS}, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET code = excluded.code, name = excluded.name,"
                    " address = excluded.address, kelurahan = excluded.kelurahan,"
                    " kecamatan = excluded.kecamatan, kota = excluded.kota,"
                    " floor_room = excluded.floor_room, active = excluded.active",
                    (w.id, w.code, w.name, w.address, w.kelurahan, w.kecamatan, w.kota, w.floor_room,
                     int(w.active), now_iso()),
                )  # fmt: skip
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"warehouse code already in use: {w.code}") from exc

    async def warehouse(self, warehouse_id: str) -> Warehouse | None:
        rows = await self._fetch(f"SELECT {_WAREHOUSE_COLUMNS} FROM warehouses WHERE id = ?", (warehouse_id,))
        return _warehouse(rows[0]) if rows else None

    async def warehouses(self, ids: Sequence[str] | None = None) -> list[Warehouse]:
        if ids is None:
            rows = await self._fetch(f"SELECT {_WAREHOUSE_COLUMNS} FROM warehouses ORDER BY name, id")
        else:
            rows = await self._fetch(
                f"SELECT {_WAREHOUSE_COLUMNS} FROM warehouses"
                " WHERE id IN (SELECT value FROM json_each(?)) ORDER BY name, id",
                (json_list(ids),),
            )
        return [_warehouse(row) for row in rows]

    # -- users -------------------------------------------------------------------------------------
    async def _users(self, where: str = "", params: Sequence[Any] = ()) -> list[tuple[User, str]]:
        async with self._reading() as conn:
            await conn.execute("BEGIN")
            rows = list(
                await conn.execute_fetchall(
                    f"SELECT {_USER_COLUMNS}, password_hash FROM users {where} ORDER BY full_name, id",
                    params,
                )
            )
            assigned: dict[str, list[str]] = {}
            if rows:
                links = await conn.execute_fetchall(
                    "SELECT user_id, warehouse_id FROM assignments"
                    " WHERE user_id IN (SELECT value FROM json_each(?)) ORDER BY warehouse_id",
                    (json_list(row[0] for row in rows),),
                )
                for user_id, warehouse_id in links:
                    assigned.setdefault(user_id, []).append(warehouse_id)
        return [(_user(row, assigned.get(row[0], [])), row[8]) for row in rows]

    async def create_user(self, user_id: str, data: UserInput, password_hash: str) -> User:
        at = now_iso()
        try:
            async with self._writing() as conn:
                await conn.execute(
                    "INSERT INTO users (id, username, full_name, agency, rank, id_number, role,"
                    " password_hash, disabled, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                    (user_id, data.username, data.full_name, data.agency, data.rank, data.id_number,
                     data.role, password_hash, at, at),
                )  # fmt: skip
                await self._assign(conn, user_id, data.warehouses)
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"username already taken: {data.username}") from exc
        user = await self.user(user_id)
        assert user is not None
        return user

    async def _assign(self, conn: aiosqlite.Connection, user_id: str, warehouse_ids: Sequence[str]) -> None:
        await conn.execute("DELETE FROM assignments WHERE user_id = ?", (user_id,))
        known = {
            row[0]
            for row in await conn.execute_fetchall(
                "SELECT id FROM warehouses WHERE id IN (SELECT value FROM json_each(?))",
                (json_list(warehouse_ids),),
            )
        }
        unknown = sorted(set(warehouse_ids) - known)
        if unknown:
            raise StorageError(f"unknown warehouse: {', '.join(unknown)}")
        await conn.executemany(
            "INSERT OR IGNORE INTO assignments (user_id, warehouse_id) VALUES (?, ?)",
            [(user_id, wid) for wid in warehouse_ids],
        )
        await conn.execute(_FORGET_USER, (user_id,))
        await conn.execute(_DEVICE_SYNC_OF_USER, (user_id,))

    async def user(self, user_id: str) -> User | None:
        found = await self._users("WHERE id = ?", (user_id,))
        return found[0][0] if found else None

    async def user_by_username(self, username: str) -> tuple[User, str] | None:
        found = await self._users("WHERE username = ?", (username,))
        return found[0] if found else None

    async def users(self) -> list[User]:
        return [user for user, _ in await self._users()]

    async def users_in_warehouse(self, warehouse_id: str) -> list[User]:
        found = await self._users(
            "WHERE id IN (SELECT user_id FROM assignments WHERE warehouse_id = ?)", (warehouse_id,)
        )
        return [user for user, _ in found]

    async def _update_user(self, user_id: str, assignment: str, value: Any) -> None:
        async with self._writing() as conn:
            cursor = await conn.execute(
                f"UPDATE users SET {assignment}, updated_at = ? WHERE id = ?", (value, now_iso(), user_id)
            )
            if cursor.rowcount != 1:
                raise StorageError(f"unknown user: {user_id}")

    async def set_password(self, user_id: str, password_hash: str) -> None:
        await self._update_user(user_id, "password_hash = ?", password_hash)

    async def set_disabled(self, user_id: str, disabled: bool) -> None:
        await self._update_user(user_id, "disabled = ?", int(disabled))

    async def assign(self, user_id: str, warehouse_ids: Sequence[str]) -> None:
        async with self._writing() as conn:
            await self._assign(conn, user_id, warehouse_ids)

    # -- devices -----------------------------------------------------------------------------------
    async def create_device(self, device: Device, token_hash: str) -> None:
        d = device
        try:
            async with self._writing() as conn:
                await conn.execute(
                    f"INSERT INTO devices ({_DEVICE_COLUMNS}, token_hash, model)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (d.id, d.user_id, d.name, d.client_id, d.created_at, d.last_seen, d.expires_at,
                     d.revoked_at, token_hash, d.model),
                )  # fmt: skip
                await conn.execute(_DEVICE_SYNC_OF_DEVICE, (d.id,))
        except sqlite3.IntegrityError as exc:
            raise Conflict("device id or token already exists") from exc

    async def device_by_token(self, token_hash: str) -> Device | None:
        rows = await self._fetch(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE token_hash = ?", (token_hash,))
        return _device(rows[0]) if rows else None

    async def device_and_user(self, token_hash: str) -> tuple[Device, User] | None:
        rows = await self._fetch(_DEVICE_AND_USER, (token_hash,))
        if not rows:
            return None
        row = rows[0]
        return _device(row[:8]), _user(row[8:16], sorted(_str_list(row[16])))

    async def devices(self, user_id: str) -> list[Device]:
        rows = await self._fetch(
            f"SELECT {_DEVICE_COLUMNS}, model FROM devices WHERE user_id = ? ORDER BY created_at, id",
            (user_id,),
        )
        return [_device(row) for row in rows]

    async def touch_devices(self, touches: Sequence[tuple[str, str]]) -> None:
        if not touches:
            return
        async with self._writing() as conn:
            await conn.executemany(
                "UPDATE devices SET last_seen = ? WHERE id = ? AND last_seen < ?",
                [(at, device_id, at) for device_id, at in touches],
            )

    async def revoke_device(self, device_id: str, at: str) -> bool:
        async with self._writing() as conn:
            cursor = await conn.execute(
                "UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (at, device_id)
            )
            await conn.execute(_FORGET_DEVICE, (device_id,))
            return cursor.rowcount == 1

    async def rename_device(self, device_id: str, name: str) -> bool:
        async with self._writing() as conn:
            cursor = await conn.execute("UPDATE devices SET name = ? WHERE id = ?", (name, device_id))
            return cursor.rowcount == 1

    async def device_labels(self, keys: Sequence[str]) -> dict[str, DeviceLabel]:
        if not keys:
            return {}
        rows = await self._fetch(
            "SELECT id, client_id, name, model, user_id FROM devices"
            " WHERE id IN (SELECT value FROM json_each(?1)) OR client_id IN (SELECT value FROM json_each(?1))"
            " ORDER BY created_at, id",
            (json_list(keys),),
        )
        return device_labels(rows, keys)

    async def client_owners(self, client_id: str) -> set[str]:
        rows = await self._fetch(
            "SELECT user_id FROM devices WHERE client_id = ?"
            " UNION SELECT user_id FROM client_state WHERE client_id = ?",
            (client_id, client_id),
        )
        return {row[0] for row in rows}

    async def revoke_devices(self, user_id: str, at: str, *, client_id: str | None = None) -> int:
        async with self._writing() as conn:
            cursor = await conn.execute(
                "UPDATE devices SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL"
                " AND (? IS NULL OR client_id = ?)",
                (at, user_id, client_id, client_id),
            )
            await conn.execute(_FORGET_REVOKED, (user_id,))
            return cursor.rowcount

    # -- failed-login throttling --------------------------------------------------------------------
    async def login_locked_until(self, keys: Sequence[str]) -> float:
        if not keys:
            return 0.0
        # Bound one by one (a few keys): json_each would cut a key at a NUL character.
        rows = await self._fetch(
            f"SELECT max(locked_until) FROM login_failures WHERE key IN ({', '.join('?' * len(keys))})",
            list(keys),
        )
        return float(rows[0][0] or 0.0) if rows else 0.0

    async def record_login_failure(
        self, key: str, *, now: float, limit: int, window_s: float, lockout_s: int, max_lockout_s: float
    ) -> None:
        # One statement inside BEGIN IMMEDIATE: it holds SQLite's write lock (other processes'
        # writers wait on busy_timeout), so it reads the row as every earlier failure left it.
        first = first_failure(now=now, limit=limit, lockout_s=lockout_s, max_lockout_s=max_lockout_s)
        async with self._writing() as conn:
            await conn.execute(
                _RECORD_FAILURE,
                {"key": key, "now": now, "window_s": window_s, "limit": limit, "lockout_s": lockout_s,
                 "max_lockout_s": max_lockout_s, **first},
            )  # fmt: skip

    async def clear_login_failures(self, key: str) -> None:
        async with self._writing() as conn:
            await conn.execute("DELETE FROM login_failures WHERE key = ?", (key,))

    async def prune_login_failures(self, *, now: float, quiet_before: float, keep: int) -> int:
        async with self._writing() as conn:
            quiet = await conn.execute(
                "DELETE FROM login_failures WHERE last_failure < ? AND locked_until <= ?", (quiet_before, now)
            )
            over = await conn.execute(
                "DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures"
                " WHERE locked_until <= ? ORDER BY last_failure, key"
                " LIMIT max(0, (SELECT count(*) FROM login_failures) - ?))",
                (now, keep),
            )
            return quiet.rowcount + over.rowcount

    # -- templates and stock item types ------------------------------------------------------------
    async def put_template(self, template: Template, *, published: bool = True) -> None:
        if not template.id:
            raise StorageError("a stored template needs an id")
        try:
            async with self._writing() as conn:
                await conn.execute(
                    "INSERT INTO templates (id, code, version, title, published, body, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (template.id, template.code, template.version, text_in(template.title), int(published),
                     msgspec.json.encode(template).decode(), now_iso()),
                )  # fmt: skip
        except sqlite3.IntegrityError as exc:
            raise Conflict(
                f"template {template.id} ({template.code} v{template.version}) already exists"
            ) from exc

    async def get_template(self, template_id: str) -> Template | None:
        rows = await self._fetch("SELECT body FROM templates WHERE id = ?", (template_id,))
        return _template(rows[0][0]) if rows else None

    async def current_template(self, code: str) -> Template | None:
        rows = await self._fetch(
            "SELECT body FROM templates WHERE code = ? AND published = 1 ORDER BY version DESC LIMIT 1",
            (code,),
        )
        return _template(rows[0][0]) if rows else None

    async def put_stock_item_type(self, item: StockItemType) -> None:
        async with self._writing() as conn:
            await conn.execute(
                "INSERT INTO stock_item_types (code, name, unit, sort_order, active) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (code) DO UPDATE SET name = excluded.name, unit = excluded.unit,"
                " sort_order = excluded.sort_order, active = excluded.active",
                (item.code, item.name, item.unit, item.sort_order, int(item.active)),
            )

    async def stock_item_types(self) -> list[StockItemType]:
        rows = await self._fetch(
            "SELECT code, name, unit, sort_order, active FROM stock_item_types ORDER BY sort_order, code"
        )
        return [
            StockItemType(code=r[0], name=r[1], unit=r[2], sort_order=r[3], active=bool(r[4])) for r in rows
        ]
