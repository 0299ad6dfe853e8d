"""Wire format of the sync protocol.

Every message a phone and the server exchange is a msgspec Struct defined here. Input structs
forbid unknown fields, so a typo in a client never silently drops data. See docs/sync-protocol.md
for examples of each message.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

PROTOCOL_VERSION = 1
"""Version of the message shapes below. A push or pull with another version is refused."""

SCHEMA_VERSION = 2
"""Version of the synced collections' fields. Mutations made under the previous version are
converted (see sync.upgrade); anything older is answered 426 "upgrade required"."""

MAX_BATCH = 2000
"""Most mutations one push may carry; a phone with more queued splits them into several pushes."""

Id = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
ClientId = Annotated[str, Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Sha256 = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
Hlc = Annotated[str, Meta(pattern=r"^\d{13}-\d{5}-[A-Za-z0-9_.:-]{1,64}$")]
Seq = Annotated[int, Meta(ge=1, le=2**53)]
Revision = Annotated[int, Meta(ge=0, le=2**53)]

Collection = Literal[
    "inspections", "incidents", "stock_counts", "stock_levels", "shifts", "handovers", "seals", "conflicts"
]

Op = Literal[
    "create",
    "patch",
    "delete",
    # inspections
    "submit",
    "review",
    "request_changes",
    "confirm",
    # incidents
    "acknowledge",
    "resolve",
    "reopen",
    # shifts (handovers: confirm)
    "check_in",
    "check_out",
    "copy_week",
]
"""What a mutation does. `resolve` on a conflict record is the supervisor's decision."""

Status = Literal["applied", "conflict", "rejected"]
"""Outcome of one mutation:

applied   every field took effect;
conflict  the mutation took effect where it could, and each losing value is kept in a conflict
          record (ids in `conflicts`);
rejected  a domain rule refused it (code/message say which); nothing changed, but the mutation
          number is consumed and the mutation is kept for the supervisor to see.
"""


class Mutation(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One offline edit, as queued on the phone."""

    seq: Seq
    """Per-client mutation number: 1, 2, 3, ... with no gaps."""
    id: Id
    """Client-generated record id (UUIDv7 from the phones)."""
    collection: Collection
    op: Op
    base_rev: Revision = 0
    """Server revision of the record the client last saw; 0 for a create."""
    warehouse_id: Id | None = None
    """Required on create; ignored otherwise (a record never moves between warehouses)."""
    fields: dict[str, Any] = {}
    """Only the changed fields. Counter fields carry {"delta": n}; append fields carry new entries."""
    hlc: Hlc
    schema_version: Annotated[int, Meta(ge=0)] = SCHEMA_VERSION


class PushRequest(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    protocol: int
    client_id: ClientId
    schema_version: Annotated[int, Meta(ge=0)]
    mutations: Annotated[list[Mutation], Meta(max_length=MAX_BATCH)]


class MutationResult(Struct, kw_only=True, frozen=True, omit_defaults=True):
    seq: int
    id: str
    status: Status
    revision: int | None = None
    """Server revision the mutation produced, if it changed anything."""
    conflicts: list[str] = []
    code: str | None = None
    message: str | None = None
    pending_attachments: list[str] = []
    """Photo hashes the record references that the server does not have yet: upload them."""
    replayed: bool = False
    """True when this is the stored answer to a mutation applied by an earlier push."""


class PushResponse(Struct, kw_only=True, frozen=True):
    results: list[MutationResult]
    last_seq: int
    server_hlc: str
    server_time_ms: int = 0
    """The server's wall clock (Unix ms) when it answered. Phones set their clock offset from it:
    `server_hlc` may run up to MAX_CLOCK_AHEAD_MS ahead of it after a fast phone's push."""


class Change(Struct, kw_only=True, frozen=True, omit_defaults=True):
    """A record's state at `revision`, as the pull feed carries it."""

    id: str
    collection: str
    warehouse_id: str
    revision: int
    fields: dict[str, Any]
    deleted: bool = False
    created_by: str = ""
    updated_by: str = ""
    updated_at: str = ""


class Digest(Struct, kw_only=True, frozen=True):
    """Count and checksum of a warehouse's records on the server (see sync.digest)."""

    count: int
    checksum: str


class PullRequest(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    protocol: int
    client_id: ClientId
    cursors: dict[Id, Revision] = {}
    """Per-warehouse cursor: the highest revision the phone holds. Warehouses in scope that are
    missing here are backfilled from 0."""
    limit: Annotated[int, Meta(ge=1, le=5000)] = 1000
    acked_seq: Annotated[int, Meta(ge=0, le=2**53)] = 0
    """Highest of the phone's own mutation numbers it already knows to be reflected."""


class PullResponse(Struct, kw_only=True, frozen=True):
    changes: list[Change]
    cursors: dict[str, int]
    has_more: bool
    scope: list[str]
    """Warehouses the user may hold now."""
    drop: list[str]
    """Warehouses the phone holds but may no longer: delete their local data."""
    reset: list[str]
    """Warehouses whose cursor is older than the tombstone horizon: delete and pull again from 0."""
    digests: dict[str, Digest]
    """Only for warehouses fully caught up in this response."""
    reflected_seq: int
    """Every mutation of this client up to this number is reflected in the data pulled so far."""
    missing_attachments: list[str]
    server_hlc: str
    server_time_ms: int = 0
    """The server's wall clock (Unix ms) when it answered. Phones set their clock offset from it:
    `server_hlc` may run up to MAX_CLOCK_AHEAD_MS ahead of it after a fast phone's push."""
    tombstone_horizon: int = 0
    """Always 0 now (kept so an app cached before per-warehouse revisions reads a no-op): when there
    was one revision counter for all warehouses this was its purge horizon."""
    tombstone_horizons: dict[str, int] = {}
    """Per warehouse in scope that was ever purged: no tombstone (deleted record) of that warehouse
    at or below this revision exists on the server any more, so a phone drops those it holds and
    its digests keep agreeing after a purge."""


class AttachmentsMissingRequest(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    hashes: Annotated[list[Sha256], Meta(max_length=1000)]


class AttachmentsMissingResponse(Struct, kw_only=True, frozen=True):
    missing: list[str]


PushDecoder = msgspec.json.Decoder(PushRequest)
PullDecoder = msgspec.json.Decoder(PullRequest)
