"""Row conversions both SQL backends share: a stored record row (the columns of RECORD_COLUMNS in
that order, JSON columns as text) back into a sync.store.Record, and audit entries into chained
audit_log rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import msgspec

from server.storage.base import AttachmentMeta, AuditRow
from sync.audit import Head, chain_of, seal
from sync.messages import Change
from sync.store import AuditEntry, Record

_fields = msgspec.json.Decoder(dict[str, Any]).decode
_field_revs = msgspec.json.Decoder(dict[str, int]).decode
_str_dict = msgspec.json.Decoder(dict[str, str]).decode
_encode = msgspec.json.Encoder().encode


def record_from_row(row: Sequence[Any]) -> Record:
    return Record(
        id=row[0],
        collection=row[1],
        warehouse_id=row[2],
        revision=row[3],
        fields=_fields(row[4]),
        field_revs=_field_revs(row[5]),
        field_hlcs=_str_dict(row[6]),
        field_by=_str_dict(row[7]),
        deleted=bool(row[8]),
        created_by=row[9],
        updated_by=row[10],
        created_at=row[11],
        updated_at=row[12],
    )


ATTACHMENT_COLUMNS = "sha256, size, mime, path, uploaded_by, created_at, width, height"


def attachment_row(meta: AttachmentMeta) -> tuple[Any, ...]:
    """The values of ATTACHMENT_COLUMNS for `meta`, in that order."""
    return (meta.sha256, meta.size, meta.mime, meta.path, meta.uploaded_by, meta.created_at,
            meta.width, meta.height)  # fmt: skip


def attachment_from_row(r: Sequence[Any]) -> AttachmentMeta:
    return AttachmentMeta(
        sha256=r[0],
        size=r[1],
        mime=r[2],
        path=r[3],
        uploaded_by=r[4],
        created_at=r[5],
        width=r[6],
        height=r[7],
    )


def take_prefetched(
    prefetched: dict[str, Sequence[Any] | None], ids: Sequence[str]
) -> tuple[list[Sequence[Any]], list[str]]:
    """The record rows a push read ahead for `ids` (None: known not to exist), each handed out
    once (asking again reads the database: the batch may have changed it since), and the ids it
    did not read ahead."""
    rows: list[Sequence[Any]] = []
    missing: list[str] = []
    for record_id in ids:
        if record_id in prefetched:
            row = prefetched.pop(record_id)
            if row is not None:
                rows.append(row)
        else:
            missing.append(record_id)
    return rows, missing


def change_from_feed_row(row: Sequence[Any]) -> Change:
    """A pull-feed row (FEED_COLUMNS: id, collection, warehouse_id, revision, fields, deleted,
    created_by, updated_by, updated_at) as a Change whose `fields` is the stored JSON text
    (msgspec.Raw): spliced into the answer, never decoded nor re-encoded."""
    return Change(
        id=row[0],
        collection=row[1],
        warehouse_id=row[2],
        revision=row[3],
        fields=cast("dict[str, Any]", msgspec.Raw(row[4])),
        deleted=bool(row[5]),
        created_by=row[6],
        updated_by=row[7],
        updated_at=row[8],
    )


def audit_rows(
    entries: Sequence[AuditEntry], heads: dict[str, Head]
) -> tuple[list[tuple[Any, ...]], dict[str, Head]]:
    """Rows for the audit_log table (AUDIT_COLUMNS), each sealed after the head of its chain
    (sync.audit.chain_of; seal: numbered, timed not before the head, hashed in the current
    format). `heads` holds the head of every chain the entries go to (a KeyError otherwise: a
    chain is appended only by a transaction that holds it); returns the rows and the chains' new
    heads."""
    rows = []
    after: dict[str, Head] = {}
    for entry in entries:
        name = chain_of(entry)
        head = after[name] if name in after else heads[name]
        sealed = seal(head, entry)
        e = sealed.entry
        rows.append(
            (sealed.head.id, e.at, e.kind, e.actor_id, e.actor_agency, e.device, e.warehouse_id, e.subject,
             sealed.content, head.hash, sealed.head.hash, name)
        )  # fmt: skip
        after[name] = sealed.head
    return rows, after


AUDIT_COLUMNS = (
    "id, at, kind, actor_id, actor_agency, device, warehouse_id, subject, content, prev_hash, hash, chain"
)
"""An entry's `detail` has no column of its own (migration 0008): it is read from the hashed
`content`, which holds it already (audit_row_from_row)."""


class Held(NamedTuple):
    """What a write transaction holds of one warehouse (or of the system, ''): its warehouse_state
    row. SQLite's one writer holds every row; a PostgreSQL push locks the row."""

    revision: int = 0
    horizon: int = 0
    head: Head = Head()


STATE_COLUMNS = "warehouse_id, revision, tombstone_horizon, audit_id, audit_hash, audit_at"


def held_from_row(row: Sequence[Any]) -> tuple[str, Held]:
    """(warehouse_id, Held) from a row of STATE_COLUMNS."""
    return str(row[0]), Held(int(row[1]), int(row[2]), Head(int(row[3]), str(row[4]), str(row[5])))


def state_rows(
    revisions: dict[str, int], heads: dict[str, Head], held: dict[str, Held]
) -> list[tuple[Any, ...]]:
    """warehouse_state rows (STATE_COLUMNS) after a commit: each warehouse's counter moved up to
    its highest revision, each appended chain's head moved to its new head; `held` is what the
    transaction read of them (the horizon is never changed by a push)."""
    rows = []
    for warehouse_id in sorted(revisions.keys() | heads.keys()):
        was = held.get(warehouse_id, Held())
        head = heads.get(warehouse_id, was.head)
        rows.append(
            (warehouse_id, max(was.revision, revisions.get(warehouse_id, 0)), was.horizon, head.id, head.hash,
             head.at)
        )  # fmt: skip
    return rows


AUDIT_ROW_COLUMNS = (
    "id, at, kind, actor_id, actor_agency, device, warehouse_id, subject, content, prev_hash, hash"
)
"""What audit_row_from_row reads, in that order."""


class _HashedDetail(msgspec.Struct):
    """The `detail` of an audit entry's hashed content (every hash format holds it)."""

    detail: dict[str, Any] = {}


_hashed_detail = msgspec.json.Decoder(_HashedDetail).decode


def audit_row_from_row(r: Sequence[Any]) -> AuditRow:
    """An audit row: the columns, and the detail from the hashed content (a content that is not an
    entry's JSON gives an empty detail; verify then refuses it by its hash or its form)."""
    content = bytes(r[8])
    try:
        detail = _hashed_detail(content).detail
    except msgspec.DecodeError:
        detail = {}
    entry = AuditEntry(
        at=r[1],
        kind=r[2],
        actor_id=r[3],
        actor_agency=r[4],
        device=r[5],
        warehouse_id=r[6],
        subject=r[7],
        detail=detail,
    )
    return AuditRow(id=r[0], entry=entry, content=content, prev_hash=r[9], hash=r[10])


_heads = msgspec.json.Decoder(dict[str, tuple[int, str]]).decode


def encode_heads(heads: dict[str, tuple[int, str]]) -> str:
    """audit_roots.heads: {chain: [id, hash]} in chain order."""
    return _encode({c: list(heads[c]) for c in sorted(heads)}).decode()


def decode_heads(text: str) -> dict[str, tuple[int, str]]:
    return _heads(text)
