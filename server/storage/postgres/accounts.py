"""Accounts and reference data of the PostgreSQL backend: warehouses, users and their assignments,
devices (bearer tokens), failed-login throttling, templates and stock item types. Same behaviour as
the SQLite backend's accounts.py; text is ordered with COLLATE "C" (SQLite's byte order) whatever
the database locale."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import msgspec

from server.models import Device, DeviceLabel, StockItemType, User, UserInput, Warehouse, now_iso
from server.storage import device_sync as ds
from server.storage.base import Conflict, StorageError, device_labels, first_failure
from server.storage.postgres.sync_tx import str_list
from sync.domain import Template, text_in

_template = msgspec.json.Decoder(Template).decode

_WAREHOUSE_COLUMNS = "id, code, name, address, kelurahan, kecamatan, kota, floor_room, active"
_DEVICE_COLUMNS = "id, user_id, name, client_id, created_at, last_seen, expires_at, revoked_at"
_BY_NAME = 'ORDER BY name COLLATE "C", id COLLATE "C"'
_USERS = """
SELECT u.id, u.username, u.full_name, u.agency, u.rank, u.id_number, u.role, u.disabled,
       u.password_hash,
       ARRAY(SELECT a.warehouse_id FROM assignments AS a WHERE a.user_id = u.id
             ORDER BY a.warehouse_id COLLATE "C") AS warehouses
FROM users AS u
"""
_USERS_ORDER = ' ORDER BY u.full_name COLLATE "C", u.id COLLATE "C"'
_DEVICE_AND_USER = f"""
SELECT d.id, d.user_id, d.name, d.client_id, d.created_at, d.last_seen, d.expires_at, d.revoked_at,
       sub.*
FROM devices AS d
JOIN ({_USERS}) AS sub ON sub.id = d.user_id
WHERE d.token_hash = $1
"""

# One failed login, as one statement; the same computation as the SQLite backend's. INSERT ... ON
# CONFLICT DO UPDATE is atomic in PostgreSQL: of two sessions failing the same key at once, one
# inserts or updates the row and the other waits on its row lock, then updates the row as the first
# committed it (READ COMMITTED re-reads the latest version), so both failures count. In the UPDATE,
# f.* is the row before this failure.
# $1 key, $2 failures, $3 now, $4 locked_until, $5 lockouts (the inserted row), $6 window_s,
# $7 limit, $8 lockout_s, $9 max_lockout_s.
_FRESH = "(f.failures = 0 OR f.window_start <= $3 - $6::float8)"
"""This failure opens a new window: none counted yet, or the window is over."""
_COUNT = f"(CASE WHEN {_FRESH} THEN 1 ELSE f.failures + 1 END)"
_LOCKS = f"({_COUNT} >= $7::bigint)"
_RECORD_FAILURE = f"""
INSERT INTO login_failures AS f (key, failures, window_start, last_failure, locked_until, lockouts)
VALUES ($1, $2, $3, $3, $4, $5)
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN {_LOCKS} THEN 0 ELSE {_COUNT} END,
    window_start = CASE WHEN {_FRESH} THEN $3 ELSE f.window_start END,
    last_failure = GREATEST(f.last_failure, $3),
    locked_until = CASE WHEN {_LOCKS}
        THEN GREATEST(f.locked_until, $3 + LEAST($9::float8, $8::bigint << LEAST(f.lockouts, 30)::int))
        ELSE f.locked_until END,
    lockouts = f.lockouts + CASE WHEN {_LOCKS} THEN 1 ELSE 0 END
"""


def _login_key(key: str) -> str:
    """PostgreSQL text cannot hold U+0000 (SQLite can): such a key is stored with U+FFFD instead."""
    return key.replace("\x00", "\ufffd")


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


def _user(row: Sequence[Any]) -> User:
    return User(
        id=row[0],
        username=row[1],
        full_name=row[2],
        agency=row[3],
        rank=row[4],
        id_number=row[5],
        role=row[6],
        disabled=bool(row[7]),
        warehouses=list(row[9]),
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


def affected(status: str) -> int:
    """Rows affected, from a command status such as "UPDATE 3" or "INSERT 0 1"."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except ValueError:
        return 0


class AccountsMixin:
    def _writing(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        raise NotImplementedError

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        raise NotImplementedError

    # -- warehouses --------------------------------------------------------------------------------
    async def put_warehouse(self, warehouse: Warehouse) -> None:
        w = warehouse
        try:
            async with self._writing() as conn:
                await conn.execute(
                    f"INSERT INTO warehouses ({_WAREHOUSE_COLUMNS}, created_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                    " ON CONFLICT (id) DO UPDATE SET code = excluded.code, name = excluded.name,"
                    " address = excluded.address, kelurahan = excluded.kelurahan,"
                    " kecamatan = excluded.kecamatan, kota = excluded.kota,"
                    " floor_room = excluded.floor_room, active = excluded.active",
                    w.id, w.code, w.name, w.address, w.kelurahan, w.kecamatan, w.kota, w.floor_room,
                    bool(w.active), now_iso(),
                )  # fmt: skip
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"warehouse code already in use: {w.code}") from exc

    async def warehouse(self, warehouse_id: str) -> Warehouse | None:
        rows = await self._fetch(f"SELECT {_WAREHOUSE_COLUMNS} FROM warehouses WHERE id = $1", warehouse_id)
        return _warehouse(rows[0]) if rows else None

    async def warehouses(self, ids: Sequence[str] | None = None) -> list[Warehouse]:
        if ids is None:
            rows = await self._fetch(f"SELECT {_WAREHOUSE_COLUMNS} FROM warehouses {_BY_NAME}")
        else:
            rows = await self._fetch(
                f"SELECT {_WAREHOUSE_COLUMNS} FROM warehouses WHERE id = ANY($1::text[]) {_BY_NAME}",
                str_list(ids),
            )
        return [_warehouse(row) for row in rows]

    # -- users -------------------------------------------------------------------------------------
    async def _users(self, where: str = "", *args: Any) -> list[tuple[User, str]]:
        rows = await self._fetch(_USERS + where + _USERS_ORDER, *args)
        return [(_user(row), row[8]) for row in rows]

    async def create_user(self, user_id: str, data: UserInput, password_hash: str) -> User:
        at = now_iso()
        try:
            async with self._writing() as conn:
                await conn.execute(
                    "INSERT INTO users (id, username, full_name, agency, rank, id_number, role,"
                    " password_hash, disabled, created_at, updated_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE, $9, $10)",
                    user_id, data.username, data.full_name, data.agency, data.rank, data.id_number,
                    data.role, password_hash, at, at,
                )  # fmt: skip
                await self._assign(conn, user_id, data.warehouses)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"username already taken: {data.username}") from exc
        user = await self.user(user_id)
        assert user is not None
        return user

    async def _assign(self, conn: asyncpg.Connection, user_id: str, warehouse_ids: Sequence[str]) -> None:
        if await conn.fetchval("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id) is None:
            raise StorageError(f"unknown user: {user_id}")
        await conn.execute("DELETE FROM assignments WHERE user_id = $1", user_id)
        known = {
            row[0]
            for row in await conn.fetch(
                "SELECT id FROM warehouses WHERE id = ANY($1::text[])", str_list(warehouse_ids)
            )
        }
        unknown = sorted(set(warehouse_ids) - known)
        if unknown:
            raise StorageError(f"unknown warehouse: {', '.join(unknown)}")
        await conn.executemany(
            "INSERT INTO assignments (user_id, warehouse_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [(user_id, wid) for wid in warehouse_ids],
        )
        await conn.execute(ds.FORGET_USER, user_id)
        await conn.execute(ds.DEVICE_SYNC_OF_USER, user_id)

    async def user(self, user_id: str) -> User | None:
        found = await self._users("WHERE u.id = $1", user_id)
        return found[0][0] if found else None

    async def user_by_username(self, username: str) -> tuple[User, str] | None:
        found = await self._users('WHERE lower(u.username COLLATE "C") = lower($1 COLLATE "C")', username)
        return found[0] if found else None

    async def users(self) -> list[User]:
        return [user for user, _ in await self._users()]

    async def users_in_warehouse(self, warehouse_id: str) -> list[User]:
        found = await self._users(
            "WHERE u.id IN (SELECT user_id FROM assignments WHERE warehouse_id = $1)", warehouse_id
        )
        return [user for user, _ in found]

    async def _update_user(self, user_id: str, assignment: str, value: Any) -> None:
        async with self._writing() as conn:
            status = await conn.execute(
                f"UPDATE users SET {assignment}, updated_at = $2 WHERE id = $3", value, now_iso(), user_id
            )
            if affected(status) != 1:
                raise StorageError(f"unknown user: {user_id}")

    async def set_password(self, user_id: str, password_hash: str) -> None:
        await self._update_user(user_id, "password_hash = $1", password_hash)

    async def set_disabled(self, user_id: str, disabled: bool) -> None:
        await self._update_user(user_id, "disabled = $1", bool(disabled))

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
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    d.id, d.user_id, d.name, d.client_id, d.created_at, d.last_seen, d.expires_at,
                    d.revoked_at, token_hash, d.model,
                )  # fmt: skip
                await conn.execute(ds.DEVICE_SYNC_OF_DEVICE, d.id)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("device id or token already exists") from exc
        except asyncpg.ForeignKeyViolationError as exc:
            raise StorageError(f"unknown user: {d.user_id}") from exc

    async def device_by_token(self, token_hash: str) -> Device | None:
        rows = await self._fetch(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE token_hash = $1", token_hash)
        return _device(rows[0]) if rows else None

    async def device_and_user(self, token_hash: str) -> tuple[Device, User] | None:
        rows = await self._fetch(_DEVICE_AND_USER, token_hash)
        if not rows:
            return None
        row = rows[0]
        return _device(row[:8]), _user(row[8:])

    async def devices(self, user_id: str) -> list[Device]:
        rows = await self._fetch(
            f"SELECT {_DEVICE_COLUMNS}, model FROM devices WHERE user_id = $1"
            ' ORDER BY created_at COLLATE "C", id COLLATE "C"',
            user_id,
        )
        return [_device(row) for row in rows]

    async def touch_devices(self, touches: Sequence[tuple[str, str]]) -> None:
        latest: dict[str, str] = {}
        for device_id, at in touches:
            latest[device_id] = max(at, latest.get(device_id, at))
        if not latest:
            return
        # Rows in id order: two processes flushing overlapping devices lock them in the same order
        # (no deadlock). asyncpg pipelines the statements of one executemany.
        async with self._writing() as conn:
            await conn.executemany(
                'UPDATE devices SET last_seen = $1 WHERE id = $2 AND last_seen COLLATE "C" < $1 COLLATE "C"',
                [(latest[device_id], device_id) for device_id in sorted(latest)],
            )

    async def rename_device(self, device_id: str, name: str) -> bool:
        async with self._writing() as conn:
            status = await conn.execute("UPDATE devices SET name = $2 WHERE id = $1", device_id, name)
            return affected(status) == 1

    async def device_labels(self, keys: Sequence[str]) -> dict[str, DeviceLabel]:
        if not keys:
            return {}
        rows = await self._fetch(
            "SELECT id, client_id, name, model, user_id FROM devices"
            " WHERE id = ANY($1::text[]) OR client_id = ANY($1::text[])"
            ' ORDER BY created_at COLLATE "C", id COLLATE "C"',
            str_list(keys),
        )
        return device_labels(rows, keys)

    async def revoke_device(self, device_id: str, at: str) -> bool:
        async with self._writing() as conn:
            # The user's row shared: an assignment change (which locks it) does not rebuild the
            # user's device_sync rows from before this revocation.
            await conn.execute(
                "SELECT 1 FROM users WHERE id = (SELECT user_id FROM devices WHERE id = $1) FOR SHARE",
                device_id,
            )
            status = await conn.execute(
                "UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", at, device_id
            )
            await conn.execute(ds.FORGET_DEVICE, device_id)
            return affected(status) == 1

    async def client_owners(self, client_id: str) -> set[str]:
        rows = await self._fetch(
            "SELECT user_id FROM devices WHERE client_id = $1"
            " UNION SELECT user_id FROM client_state WHERE client_id = $1",
            client_id,
        )
        return {row[0] for row in rows}

    async def revoke_devices(self, user_id: str, at: str, *, client_id: str | None = None) -> int:
        async with self._writing() as conn:
            await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR SHARE", user_id)  # as revoke_device
            status = await conn.execute(
                "UPDATE devices SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL"
                " AND ($3::text IS NULL OR client_id = $3::text)",
                at,
                user_id,
                client_id,
            )
            await conn.execute(ds.FORGET_REVOKED, user_id)
            return affected(status)

    # -- failed-login throttling --------------------------------------------------------------------
    async def login_locked_until(self, keys: Sequence[str]) -> float:
        rows = await self._fetch(
            "SELECT max(locked_until) FROM login_failures WHERE key = ANY($1::text[])",
            [_login_key(k) for k in keys],
        )
        return float(rows[0][0] or 0.0) if rows else 0.0

    async def record_login_failure(
        self, key: str, *, now: float, limit: int, window_s: float, lockout_s: int, max_lockout_s: float
    ) -> None:
        first = first_failure(now=now, limit=limit, lockout_s=lockout_s, max_lockout_s=max_lockout_s)
        async with self._writing() as conn:
            await conn.execute(
                _RECORD_FAILURE,
                _login_key(key), first["failures"], float(now), float(first["locked_until"]),
                first["lockouts"], float(window_s), int(limit), int(lockout_s), float(max_lockout_s),
            )  # fmt: skip

    async def clear_login_failures(self, key: str) -> None:
        async with self._writing() as conn:
            await conn.execute("DELETE FROM login_failures WHERE key = $1", _login_key(key))

    async def prune_login_failures(self, *, now: float, quiet_before: float, keep: int) -> int:
        async with self._writing() as conn:
            quiet = await conn.execute(
                "DELETE FROM login_failures WHERE last_failure < $1 AND locked_until <= $2",
                float(quiet_before),
                float(now),
            )
            over = await conn.execute(
                "DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures"
                ' WHERE locked_until <= $1 ORDER BY last_failure, key COLLATE "C"'
                " LIMIT GREATEST(0, (SELECT count(*) FROM login_failures) - $2::bigint))",
                float(now),
                int(keep),
            )
            return affected(quiet) + affected(over)

    # -- templates and stock item types ------------------------------------------------------------
    async def put_template(self, template: Template, *, published: bool = True) -> None:
        if not template.id:
            raise StorageError("a stored template needs an id")
        try:
            async with self._writing() as conn:
                await conn.execute(
                    "INSERT INTO templates (id, code, version, title, published, body, created_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    template.id, template.code, template.version, text_in(template.title), bool(published),
                    msgspec.json.encode(template).decode(), now_iso(),
                )  # fmt: skip
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(
                f"template {template.id} ({template.code} v{template.version}) already exists"
            ) from exc

    async def get_template(self, template_id: str) -> Template | None:
        rows = await self._fetch("SELECT body FROM templates WHERE id = $1", template_id)
        return _template(rows[0][0]) if rows else None

    async def current_template(self, code: str) -> Template | None:
        rows = await self._fetch(
            "SELECT body FROM templates WHERE code = $1 AND published ORDER BY version DESC LIMIT 1", code
        )
        return _template(rows[0][0]) if rows else None

    async def put_stock_item_type(self, item: StockItemType) -> None:
        async with self._writing() as conn:
            await conn.execute(
                "INSERT INTO stock_item_types (code, name, unit, sort_order, active)"
                " VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT (code) DO UPDATE SET name = excluded.name, unit = excluded.unit,"
                " sort_order = excluded.sort_order, active = excluded.active",
                item.code,
                item.name,
                item.unit,
                item.sort_order,
                bool(item.active),
            )

    async def stock_item_types(self) -> list[StockItemType]:
        rows = await self._fetch(
            "SELECT code, name, unit, sort_order, active FROM stock_item_types"
            ' ORDER BY sort_order, code COLLATE "C"'
        )
        return [
            StockItemType(code=r[0], name=r[1], unit=r[2], sort_order=r[3], active=bool(r[4])) for r in rows
        ]
