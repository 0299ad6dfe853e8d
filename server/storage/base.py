"""The storage interface of the server: the sync engine's `SyncStore` plus what the HTTP layer and
the CLI need (accounts, devices, reference data, attachment metadata, the audit log).

Every backend (server.storage.sqlite; server.storage.postgres later) implements `Storage`, and
tests/server/test_storage_contract.py runs the same contract against each of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from msgspec import Struct

from server.models import Device, DeviceLabel, StockItemType, User, UserInput, Warehouse
from server.storage.alerts import AlertStore
from sync.audit import SYSTEM_CHAIN, chain_of
from sync.domain import Template
from sync.store import AuditEntry, Record, StoredOutcome, SyncStore

if TYPE_CHECKING:  # server.summaries imports server.reports, which imports this module
    from server.summaries import StoredSummary, SummaryRow


class StorageError(Exception):
    """A backend cannot be opened or used as configured (bad URL, missing database...)."""


class Conflict(StorageError):
    """A unique value (username, warehouse code, token) is already taken."""


class StorageUnavailable(StorageError):
    """The database cannot take the operation right now: the disk is full, the file is read-only
    or unreadable, an I/O error, or another process holds the lock too long. Nothing of the failed
    operation was written (its transaction rolled back); the HTTP API answers 503
    `storage_unavailable` with Retry-After, and the client retries later."""


class AttachmentMeta(Struct, kw_only=True, frozen=True):
    sha256: str
    size: int
    mime: str
    path: str
    """Relative to the storage's data_dir."""
    uploaded_by: str
    created_at: str
    width: int | None = None
    """Pixels, as the upload's decode found them (server/images.py); None for photos stored before."""
    height: int | None = None


class DeviceSyncState(Struct, kw_only=True, frozen=True):
    """A logged-in device and how its sync stands, for the supervisor's overview."""

    device_id: str
    user_id: str
    name: str
    client_id: str
    created_at: str
    last_seen: str
    """Last authenticated request (touched at most every few minutes)."""
    last_push_at: str | None
    """Server time of the last push that applied mutations from this client id (None: never)."""
    last_seq: int
    missing_attachments: int
    """Photos this client referenced that the server still lacks."""
    warehouses: list[str]
    """The user's assigned warehouses among the ones asked for."""


PurgeAudit = Callable[[str | None, list[str], dict[str, int]], AuditEntry]
"""Builds a purge's audit entry: (warehouse, or None for the system chain's summary; purged ids;
the new tombstone horizons)."""


class AuditCursor(NamedTuple):
    """Where a page of the audit trail ended: the last entry's time, chain and id (its order)."""

    at: str
    chain: str
    id: int


class AuditRow(Struct, kw_only=True, frozen=True):
    """One stored audit-log entry with its place in the hash chain."""

    id: int
    entry: AuditEntry
    content: bytes
    prev_hash: str
    hash: str

    @property
    def cursor(self) -> AuditCursor:
        return AuditCursor(self.entry.at, chain_of(self.entry), self.id)


def first_failure(*, now: float, limit: int, lockout_s: int, max_lockout_s: float) -> dict[str, Any]:
    """The login_failures columns of a key's first recorded failure (the row inserted; later
    failures update it in SQL): counted, or at once locked out when the limit is 1."""
    if limit <= 1:
        return {"failures": 0, "locked_until": now + min(max_lockout_s, lockout_s), "lockouts": 1}
    return {"failures": 1, "locked_until": 0.0, "lockouts": 0}


@runtime_checkable
class Storage(SyncStore, AlertStore, Protocol):
    data_dir: Path
    """Where the backend keeps files (attachments) next to the database."""

    # -- lifecycle ---------------------------------------------------------------------------
    async def open(self, *, create: bool = True) -> None:
        """Connect, and create the database and apply pending migrations when `create`."""
        ...

    async def close(self) -> None: ...

    async def migrate(self) -> list[int]:
        """Apply pending migrations in order; return the versions applied (none: empty)."""
        ...

    async def schema_version(self) -> int: ...

    async def database_mark(self, name: str) -> str | None:
        """The value of a fact about the database itself (table database_marks), e.g. `demo`."""
        ...

    async def set_database_mark(self, name: str, value: str) -> None:
        """Record a fact about the database (kept if already set)."""
        ...

    # -- warehouses ----------------------------------------------------------------------------
    async def put_warehouse(self, warehouse: Warehouse) -> None:
        """Insert or update by id."""
        ...

    async def warehouse(self, warehouse_id: str) -> Warehouse | None: ...

    async def warehouses(self, ids: Sequence[str] | None = None) -> list[Warehouse]:
        """All warehouses (ids None) or the given ones, ordered by name."""
        ...

    # -- users and assignments -------------------------------------------------------------------
    async def create_user(self, user_id: str, data: UserInput, password_hash: str) -> User:
        """Raises Conflict when the username is taken."""
        ...

    async def user(self, user_id: str) -> User | None: ...

    async def user_by_username(self, username: str) -> tuple[User, str] | None:
        """The user and their password hash; usernames are case-insensitive."""
        ...

    async def users(self) -> list[User]: ...

    async def users_in_warehouse(self, warehouse_id: str) -> list[User]: ...

    async def set_password(self, user_id: str, password_hash: str) -> None: ...

    async def set_disabled(self, user_id: str, disabled: bool) -> None: ...

    async def assign(self, user_id: str, warehouse_ids: Sequence[str]) -> None:
        """Replace the user's warehouse assignments."""
        ...

    # -- devices and tokens ----------------------------------------------------------------------
    async def create_device(self, device: Device, token_hash: str) -> None: ...

    async def device_by_token(self, token_hash: str) -> Device | None: ...

    async def device_and_user(self, token_hash: str) -> tuple[Device, User] | None:
        """The token's device and its user (with the assignments) in one read: what every
        authenticated request needs first, so it costs one round trip, not one per table."""
        ...

    async def devices(self, user_id: str) -> list[Device]: ...

    async def touch_devices(self, touches: Sequence[tuple[str, str]]) -> None:
        """Set last_seen of each (device id, time) in one write transaction; a time never replaces
        a later one already stored, and unknown devices are skipped. Nothing to do: no transaction."""
        ...

    async def revoke_device(self, device_id: str, at: str) -> bool:
        """Revoke one device's token; False when it was already revoked or unknown."""
        ...

    async def rename_device(self, device_id: str, name: str) -> bool:
        """Give a device another name; False when it is unknown."""
        ...

    async def device_labels(self, keys: Sequence[str]) -> dict[str, DeviceLabel]:
        """Names of devices by device id or client id (what audit entries and sync state carry):
        for a client id that logged in several times, its newest device's name."""
        ...

    async def client_owners(self, client_id: str) -> set[str]:
        """Users a client id has been used by (devices and sync state). A client id belongs to one
        user: its mutation numbers are that user's."""
        ...

    async def revoke_devices(self, user_id: str, at: str, *, client_id: str | None = None) -> int:
        """Revoke every live token of a user (or only those of one client id); returns how many."""
        ...

    # -- failed-login throttling (the rules are server/auth.py's LoginThrottle) -----------------
    # Keys are opaque strings ("user:<name>", "addr:<address>"); times are wall-clock epoch
    # seconds given by the caller, so every process and every restart shares one record.

    async def login_locked_until(self, keys: Sequence[str]) -> float:
        """The latest time until which any of these keys is locked out (0.0: none ever was)."""
        ...

    async def record_login_failure(
        self, key: str, *, now: float, limit: int, window_s: float, lockout_s: int, max_lockout_s: float
    ) -> None:
        """Count one failed login of `key`, atomically (failures recorded at once by several
        processes all count). Failures are counted in a window that opens at the key's first
        failure and lasts `window_s`; a failure after it opens a new window. The `limit`-th failure
        of a window locks the key until now + min(max_lockout_s, lockout_s * 2**lockouts) and
        starts the count again; `lockouts` (how many lockouts the key had) is kept until the key
        is cleared or pruned."""
        ...

    async def clear_login_failures(self, key: str) -> None:
        """Forget a key's failures and lockouts (a successful login)."""
        ...

    async def prune_login_failures(self, *, now: float, quiet_before: float, keep: int) -> int:
        """Delete the keys that are not locked and whose last failure was before `quiet_before`;
        then, beyond `keep` keys, the unlocked ones whose last failure is oldest. A locked key is
        never deleted. Returns how many keys were deleted."""
        ...

    # -- templates and stock item types ----------------------------------------------------------
    async def put_template(self, template: Template, *, published: bool = True) -> None:
        """Store a template version. Templates are immutable: an existing id raises Conflict."""
        ...

    async def get_template(self, template_id: str) -> Template | None: ...

    async def current_template(self, code: str) -> Template | None:
        """The highest published version of a template code."""
        ...

    async def put_stock_item_type(self, item: StockItemType) -> None: ...

    async def stock_item_types(self) -> list[StockItemType]: ...

    # -- attachments -----------------------------------------------------------------------------
    async def put_attachment(self, meta: AttachmentMeta) -> bool:
        """Record an uploaded file; False when that hash was already present."""
        ...

    async def attachment(self, sha256: str) -> AttachmentMeta | None: ...

    async def attachments_present(self, hashes: Sequence[str]) -> set[str]: ...

    async def attachment_warehouses(self, sha256: str) -> set[str]:
        """Warehouses whose records reference a photo by the hand of its uploader (a reference's
        user is the pushing user): who may see it. A reference by anyone else grants nothing, so
        knowing a photo's hash is not a key to it."""
        ...

    async def attachments_visible(
        self, hashes: Sequence[str], warehouse_ids: Sequence[str], user_id: str
    ) -> set[str]:
        """Of `hashes`, those stored that `user_id` uploaded, or that their uploader referenced from a
        record of one of `warehouse_ids` (what a caller of that scope may learn exists)."""
        ...

    # -- audit log -------------------------------------------------------------------------------
    async def append_audit(self, entry: AuditEntry) -> int:
        """Append one entry (logins, admin actions) to its chain (sync.audit.chain_of: its
        warehouse's, else the system chain); returns its id in that chain."""
        ...

    async def audit_head(self, chain: str = SYSTEM_CHAIN) -> tuple[int, str] | None:
        """(id, hash) of the newest entry of one chain, or None for an empty chain."""
        ...

    async def audit_heads(self) -> dict[str, tuple[int, str]]:
        """(id, hash) of every non-empty chain's head as the chains' state records them, in one
        snapshot: what a checkpoint's Merkle root covers."""
        ...

    def audit_rows(
        self, chain: str = SYSTEM_CHAIN, after_id: int = 0, batch: int = 2000
    ) -> AsyncIterator[AuditRow]:
        """Every entry of one chain after `after_id`, in id order, streamed in batches."""
        ...

    async def audit_chains(self) -> list[str]:
        """Every chain that holds an entry, in order."""
        ...

    async def save_audit_root(self, root: str, at: str, heads: dict[str, tuple[int, str]]) -> None:
        """Keep the heads a signed checkpoint's root covers (kept once per root)."""
        ...

    async def audit_roots(self, roots: Sequence[str]) -> dict[str, dict[str, tuple[int, str]]]:
        """The heads kept for each of these roots (those kept)."""
        ...

    # -- supervisor: read-only queries of the supervisor view, exports and live updates ------------
    # Few and generic on purpose: aggregation happens in Python (server/reports.py) over these.

    def iter_records(
        self,
        warehouse_ids: Sequence[str],
        collections: Sequence[str],
        *,
        created_from: str | None = None,
        created_to: str | None = None,
        updated_from: str | None = None,
        include_deleted: bool = False,
        batch: int = 500,
    ) -> AsyncIterator[Record]:
        """Records of these warehouses and collections, from ONE consistent snapshot, read in
        batches of `batch` (a year of a city never sits in memory), ordered by warehouse id then
        revision. Time bounds are server timestamps (ISO strings, from inclusive, to exclusive):
        `created_at` for created_*, `updated_at` for updated_from."""
        ...

    async def get_records(self, ids: Sequence[str]) -> dict[str, Record]:
        """Records by id (deleted ones included); unknown ids are absent."""
        ...

    async def latest_revision(self) -> int:
        """The highest revision handed out so far in any warehouse (0: nothing was ever pushed)."""
        ...

    async def live_cursors(self, warehouse_ids: Sequence[str]) -> dict[str, int]:
        """Each warehouse's highest revision handed out (0 if none): where a live view starts."""
        ...

    async def warehouse_summaries(self, warehouse_ids: Sequence[str]) -> dict[str, StoredSummary]:
        """The stored overview summary of each of these warehouses that has one, with its
        warehouse's counter now (server/summaries.py): kept by the pushes that change them."""
        ...

    async def keep_summaries(self, rows: Sequence[SummaryRow]) -> None:
        """Keep summaries folded outside a push (a warehouse without a valid one), each unless one
        folded at a newer revision is already kept."""
        ...

    async def warehouse_revisions(self, warehouse_ids: Sequence[str]) -> dict[str, int]:
        """Each warehouse's newest record revision (0 without records): it moves whenever one of
        its records changes, so it tells whether what was computed from them still holds."""
        ...

    async def changes_after(self, cursors: dict[str, int], limit: int) -> list[Record]:
        """Records of each warehouse of `cursors` changed after its cursor, by warehouse and then
        revision, at most `limit` (live updates; a record appears once, at its latest revision)."""
        ...

    async def rejected_outcomes(
        self, warehouse_ids: Sequence[str], limit: int, offset: int = 0
    ) -> list[StoredOutcome]:
        """Rejected mutations concerning these warehouses, newest first, with their full body."""
        ...

    async def audit_search(
        self,
        *,
        warehouse_ids: Sequence[str],
        include_global: bool = False,
        query: str = "",
        actor_ids: Sequence[str] = (),
        subject: str | None = None,
        from_at: str | None = None,
        to_at: str | None = None,
        before: AuditCursor | None = None,
        limit: int = 100,
    ) -> list[AuditRow]:
        """Audit entries newest first, ordered by (at, chain, id) descending and strictly before
        `before` when given (ids are numbered per chain, so an id alone cannot page across several
        warehouses), of these warehouses, plus those
        without a warehouse (logins, admin actions) when `include_global`. `query` matches kind,
        subject, device or detail text case-insensitively, or the actor when the actor is one of
        `actor_ids` (names resolved by the caller); `subject` is an exact subject."""
        ...

    async def device_sync_state(self, warehouse_ids: Sequence[str]) -> list[DeviceSyncState]:
        """Live (not revoked, not expired) devices of users assigned to these warehouses, with the
        last push of their client id and the photos they still owe."""
        ...


def device_labels(rows: Sequence[Sequence[Any]], keys: Sequence[str]) -> dict[str, DeviceLabel]:
    """(id, client_id, name, model, user_id) rows, oldest first, as labels by the keys asked for:
    a client id that logged in again is named by its newest device."""
    wanted = set(keys)
    found: dict[str, DeviceLabel] = {}
    for device_id, client_id, name, model, user_id in rows:
        label = DeviceLabel(name=name, model=model, user_id=user_id)
        for key in (device_id, client_id):
            if key in wanted:
                found[key] = label
    return found
