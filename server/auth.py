"""Accounts: password hashing, device tokens, login throttling, and the request's Actor.

- Passwords are hashed with Argon2id (argon2-cffi), off the event loop, in threads of their own: a
  login never waits behind photo decoding (server/images.py, worker processes) or file reads.
- A login issues an opaque bearer token (secrets.token_urlsafe(32)) for one device; the server
  keeps only its SHA-256, so a database leak does not leak live tokens, and tokens are looked up by
  that hash (an index lookup on a hash reveals nothing through timing about the token). Logging in
  again on the same device (client id) revokes the device's previous token.
- Failed logins are throttled per (username, client address), per address and per username across
  addresses (429 too_many_attempts; LoginThrottle says how none of it can lock someone else out),
  in the storage: shared by every server process on one database and kept across restarts.
- `authenticate()` resolves the bearer token to a `Session` (user, device, Actor) once per
  request; the `actor`/`session` dependencies, `require_role()` guards and `check_scope()` build on it.
  It refreshes the device's last_seen (at most every `touch_interval_s`) through the app's
  DeviceTouches, which writes many devices' times in one transaction about once a second.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import secrets
import time
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from server.config import Config
from server.errors import ApiError
from server.models import Device, User, iso, now_iso
from server.storage import Storage
from server.touches import DeviceTouches
from sync.answers import normalise_text
from sync.domain import Actor, Role
from sync.store import AuditEntry

TOKEN_PREFIX = "Bearer "


# -- passwords -----------------------------------------------------------------------------------
class Passwords:
    """Argon2id hashing. Hashing costs tens of milliseconds of CPU, so it runs in one of `threads`
    threads that do nothing else (not the default executor, which file reads and PDFs share)."""

    def __init__(
        self, *, time_cost: int = 3, memory_kib: int = 64 * 1024, parallelism: int = 1, threads: int = 2
    ) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
        self._threads = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="tigapilar-argon2")

    @classmethod
    def from_config(cls, config: Config) -> Passwords:
        return cls(
            time_cost=config.argon2_time_cost,
            memory_kib=config.argon2_memory_kib,
            parallelism=config.argon2_parallelism,
            threads=config.password_threads,
        )

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._hasher.hash, password)

    def verify_sync(self, password_hash: str | None, password: str) -> bool:
        """Check a password; with no hash (unknown user) spend the same time and fail."""
        try:
            ok = self._hasher.verify(password_hash or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return ok and password_hash is not None

    async def verify(self, password_hash: str | None, password: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self.verify_sync, password_hash, password)


MIN_PASSWORD = 12
MAX_PASSWORD = 1024
COMMON_PASSWORDS = Path(__file__).parent / "data" / "common-passwords.txt"
"""The 10,000 most common passwords, lowercase (from zxcvbn's list; scripts/common-passwords)."""


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def check_password_strength(password: str) -> str | None:
    """Why a new password is refused, or None (OWASP ASVS 2.1.1 and 2.1.7: at least 12 characters,
    none of the most common passwords, whatever their letter case)."""
    if len(password) < MIN_PASSWORD:
        return f"password must be at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"password must be at most {MAX_PASSWORD} characters"
    if password.lower() in common_passwords():
        return "password is one of the 10,000 most common passwords: choose another"
    return None


# -- tokens --------------------------------------------------------------------------------------
def new_token() -> tuple[str, str]:
    """A fresh bearer token and the hash the server stores."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    if header[: len(TOKEN_PREFIX)].lower() != TOKEN_PREFIX.lower():
        return None
    token = header[len(TOKEN_PREFIX) :].strip()
    return token if 20 <= len(token) <= 200 else None


# -- login throttling ----------------------------------------------------------------------------
class LoginThrottle:
    """Counters of failed logins, kept in the storage (table login_failures), so every server
    process on one database counts together and a restart lifts no lockout. Written against OWASP
    ASVS 2.2.1 (docs/security.md says how): a lockout must never be something one person can turn
    against another's account. Three keys count each failure:

    - (account, address): `max_failures` failures of one username from one client address lock
      that pair out. The right password from another address still works.
    - address: `max_failures_per_address` failures from one address, whatever the usernames, lock
      the address out (many phones share a kecamatan's NAT, hence the higher limit).
    - account: `max_failures_per_account` failures of one username within `account_window_s`,
      from all addresses together (ASVS: at most 100 an hour), lock the account out for the rest of
      that hour, except on devices that have logged in as this account before (their client id has
      one of its device rows): a phone already in use keeps working, a new one waits.

    For the first two, the window opens at a key's first failure and a failure after `window_s`
    opens a new one (the earlier ones are forgotten); a lockout lasts `lockout_s`, doubled for every
    further lockout of the key (at most one hour), and starts the count again: the backoff is per
    address. A successful login clears only its (account, address) pair: never the address, so one
    valid account cannot be used to reset an address that guesses others' passwords, and never the
    account's hourly count.

    A key is forgotten, lockouts included, once it is not locked and has had no failure for
    `forget_s` (a day; at least the windows). At most `MAX_KEYS` keys are tracked: beyond that the
    unlocked keys whose last failure is oldest are forgotten first; a locked key never is. Pruning
    runs on the first failure a throttle sees and then every `PRUNE_EVERY` failures.

    The storage does each check and each failure as one SQL statement, computed from the row as it
    stands, so failures arriving at several processes at once all count. Times are wall-clock epoch
    seconds (`clock`, injectable for tests): a monotonic clock is neither shared between processes
    nor continued across restarts. The methods take the storage (Accounts passes its own)."""

    MAX_KEYS = 100_000
    MAX_LOCKOUT_S = 3600
    FORGET_S = 24 * 3600
    PRUNE_EVERY = 64

    def __init__(
        self,
        *,
        max_failures: int,
        max_failures_per_address: int,
        lockout_s: int,
        window_s: int,
        max_failures_per_account: int = 100,
        account_window_s: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_failures = max_failures
        self.max_failures_per_address = max_failures_per_address
        self.max_failures_per_account = max_failures_per_account
        self.lockout_s = lockout_s
        self.window_s = window_s
        self.account_window_s = account_window_s
        self.forget_s = max(self.FORGET_S, window_s, account_window_s)
        self._clock = clock
        self._until_prune = 0

    @classmethod
    def from_config(cls, config: Config) -> LoginThrottle:
        return cls(
            max_failures=config.login_max_failures,
            max_failures_per_address=config.login_max_failures_per_address,
            max_failures_per_account=config.login_max_failures_per_account,
            lockout_s=config.login_lockout_s,
            window_s=config.login_window_s,
            account_window_s=config.login_account_window_s,
        )

    @staticmethod
    def keys(username: str, address: str) -> tuple[str, str, str]:
        """(the pair's key, the address's, the account's)."""
        account = "acct:" + username.strip().lower()
        return f"{account}|addr:{address}", "addr:" + address, account

    def _wait(self, locked_until: float) -> int:
        return max(0, math.ceil(locked_until - self._clock()))

    async def retry_after(self, storage: Storage, username: str, address: str) -> int:
        """Seconds before this address may try this username again (0: go ahead)."""
        pair, addr, _ = self.keys(username, address)
        return self._wait(await storage.login_locked_until([pair, addr]))

    async def account_retry_after(self, storage: Storage, username: str) -> int:
        """Seconds before a device new to this account may try it again (0: go ahead)."""
        return self._wait(await storage.login_locked_until([self.keys(username, "")[2]]))

    async def failure(self, storage: Storage, username: str, address: str) -> None:
        now = self._clock()
        pair, addr, account = self.keys(username, address)
        for key, limit, window_s, lockout_s in (
            (pair, self.max_failures, self.window_s, self.lockout_s),
            (addr, self.max_failures_per_address, self.window_s, self.lockout_s),
            (account, self.max_failures_per_account, self.account_window_s, self.account_window_s),
        ):
            await storage.record_login_failure(
                key,
                now=now,
                limit=limit,
                window_s=window_s,
                lockout_s=lockout_s,
                max_lockout_s=max(self.MAX_LOCKOUT_S, lockout_s),
            )
        if self._until_prune <= 0:
            self._until_prune = self.PRUNE_EVERY
            await storage.prune_login_failures(now=now, quiet_before=now - self.forget_s, keep=self.MAX_KEYS)
        self._until_prune -= 1

    async def success(self, storage: Storage, username: str, address: str) -> None:
        await storage.clear_login_failures(self.keys(username, address)[0])


# -- sessions ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Session:
    """The authenticated request: who, on which device, acting as which Actor."""

    user: User
    device: Device
    actor: Actor


async def scope_of(storage: Storage, user: User) -> frozenset[str]:
    """Warehouses a user may see: the assigned ones; an admin without assignments sees all."""
    if user.role == "admin" and not user.warehouses:
        return frozenset(w.id for w in await storage.warehouses())
    return frozenset(user.warehouses)


async def make_session(storage: Storage, user: User, device: Device) -> Session:
    actor = Actor(
        user_id=user.id,
        username=user.username,
        role=user.role,
        agency=user.agency,
        warehouses=await scope_of(storage, user),
        client_id=device.client_id,
    )
    return Session(user=user, device=device, actor=actor)


_UNAUTHORIZED = "Sesi tidak berlaku, silakan masuk kembali"


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Session:
    """The request's Session (cached on connection.state), or 401 unauthorized."""
    cached = connection.state.get("session")
    if isinstance(cached, Session):
        return cached
    token = bearer_token(connection)
    if token is None:
        raise ApiError(401, "unauthorized", "Silakan masuk terlebih dahulu", reason="token_missing")
    storage: Storage = connection.app.state.storage
    config: Config = connection.app.state.config
    found = await storage.device_and_user(token_hash(token))
    now = datetime.now(UTC)
    # `reason` tells the phone what the officer can do: log in again (expired), or ask the admin
    # first (revoked: by an admin, a password change, or a later login on this device).
    if found is None:
        raise ApiError(401, "unauthorized", _UNAUTHORIZED, reason="token_unknown")
    if found[0].revoked:
        raise ApiError(401, "unauthorized", "Akses perangkat ini sudah dicabut", reason="token_revoked")
    if found[0].expires_at <= iso(now):
        raise ApiError(401, "unauthorized", _UNAUTHORIZED, reason="token_expired")
    device, user = found
    if user.disabled:
        raise ApiError(401, "unauthorized", "Akun dinonaktifkan", reason="account_disabled")
    if device.last_seen < iso(now - timedelta(seconds=config.touch_interval_s)):
        touches: DeviceTouches = connection.app.state.touches
        touches.note(device.id, iso(now))  # written within a second, with other devices' (server/touches.py)
    session = await make_session(storage, user, device)
    connection.state["session"] = session
    return session


async def provide_session(request: ASGIConnection[Any, Any, Any, Any]) -> Session:
    return await authenticate(request)


async def provide_actor(request: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    return (await authenticate(request)).actor


Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Coroutine[Any, Any, None]]


async def require_login(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    await authenticate(connection)


def require_role(*roles: Role) -> Guard:
    """Guard: only users with one of `roles` (403 forbidden otherwise)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        session = await authenticate(connection)
        if session.user.role not in roles:
            raise ApiError(
                403, "forbidden", "Peran Anda tidak diizinkan untuk tindakan ini", roles=list(roles)
            )

    return guard


def check_scope(actor: Actor, warehouse_id: str) -> None:
    """Every handler taking a warehouse id calls this: 403 out_of_scope outside the actor's warehouses."""
    if warehouse_id not in actor.warehouses:
        raise ApiError(403, "out_of_scope", "Gudang ini di luar penugasan Anda", warehouse_id=warehouse_id)


# -- login and logout ----------------------------------------------------------------------------
def audit_entry(
    kind: str,
    *,
    actor_id: str = "",
    actor_agency: str = "",
    device: str = "",
    subject: str = "",
    warehouse_id: str | None = None,
    **detail: Any,
) -> AuditEntry:
    return AuditEntry(
        at=now_iso(),
        kind=kind,
        actor_id=actor_id,
        actor_agency=actor_agency,
        device=device,
        warehouse_id=warehouse_id,
        subject=subject,
        detail=detail,
    )


@dataclass
class Accounts:
    """Login and logout against a storage, with throttling and audit entries. `on_change` is
    called whenever a session may have ended or changed scope (revoked tokens, disabled accounts,
    new assignments): the app wakes its open live streams with it (server/api/live.py)."""

    storage: Storage
    passwords: Passwords
    throttle: LoginThrottle
    token_ttl: timedelta = timedelta(days=90)
    on_change: Callable[[], None] = lambda: None

    async def login(
        self,
        username: str,
        password: str,
        *,
        device_name: str,
        client_id: str,
        address: str,
        device_model: str = "",
    ) -> tuple[str, User, Device]:
        wait = await self.throttle.retry_after(self.storage, username, address)
        found = await self.storage.user_by_username(username.strip())
        if not wait:
            wait = await self.throttle.account_retry_after(self.storage, username)
            # An account guessed at from many addresses: the devices it already uses go on.
            if wait and found is not None and found[0].id in await self.storage.client_owners(client_id):
                wait = 0
        if wait:
            raise ApiError(
                429,
                "too_many_attempts",
                f"Terlalu banyak percobaan. Coba lagi dalam {wait} detik",
                retry_after=wait,
            )
        ok = await self.passwords.verify(found[1] if found else None, password)
        if found is None or not ok or found[0].disabled:
            await self.throttle.failure(self.storage, username, address)
            await self.storage.append_audit(
                audit_entry(
                    "auth.login_failed",
                    actor_id=found[0].id if found else "",
                    actor_agency=found[0].agency if found else "",
                    subject=username.strip()[:64],
                    address=address,
                    reason="disabled" if found and ok else "bad_credentials",
                )
            )
            # A disabled account gets the answer a wrong password gets: the answer must not confirm
            # a password (the audit entry says which it was).
            raise ApiError(401, "bad_credentials", "Nama pengguna atau kata sandi salah")
        user = found[0]
        await self.throttle.success(self.storage, username, address)
        if await self.storage.client_owners(client_id) - {user.id}:
            await self.storage.append_audit(
                audit_entry(
                    "auth.login_refused",
                    actor_id=user.id,
                    actor_agency=user.agency,
                    subject=user.id,
                    client_id=client_id,
                    address=address,
                    reason="client_in_use",
                )
            )
            raise ApiError(
                409,
                "client_in_use",
                "Perangkat ini terdaftar atas nama pengguna lain; buat client id baru untuk pengguna ini",
            )
        now = datetime.now(UTC)
        revoked = await self.storage.revoke_devices(user.id, iso(now), client_id=client_id)
        if revoked:
            self.on_change()
        token, digest = new_token()
        device = Device(
            id=str(uuid.uuid4()),
            user_id=user.id,
            name=normalise_text(device_name) or device_name,
            model=normalise_text(device_model),
            client_id=client_id,
            created_at=iso(now),
            last_seen=iso(now),
            expires_at=iso(now + self.token_ttl),
        )
        await self.storage.create_device(device, digest)
        await self.storage.append_audit(
            audit_entry(
                "auth.login",
                actor_id=user.id,
                actor_agency=user.agency,
                device=device.id,
                subject=user.id,
                device_name=device.name,
                device_model=device.model,
                client_id=client_id,
                address=address,
                replaced_tokens=revoked,
            )
        )
        return token, user, device

    async def logout(self, session: Session) -> None:
        await self.revoke(session, session.device, kind="auth.logout")

    async def revoke(self, session: Session, device: Device, *, kind: str = "auth.token_revoked") -> bool:
        revoked = await self.storage.revoke_device(device.id, now_iso())
        if revoked:
            self.on_change()
            await self.storage.append_audit(
                audit_entry(
                    kind,
                    actor_id=session.user.id,
                    actor_agency=session.user.agency,
                    device=session.device.id,
                    subject=device.id,
                    user_id=device.user_id,
                    device_name=device.name,
                )
            )
        return revoked
