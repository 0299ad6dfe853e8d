"""Row conversions both SQL backends share: a stored record row (the columns of RECORD_COLUMNS in
that order, JSON columns as text) back into a sync.store.Record, and audit entries into chained
audit_log rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import msgspec

from server.storage.base import AttachmentMeta
from sync.audit import Head, seal
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


def audit_rows(entries: Sequence[AuditEntry], head: Head) -> tuple[list[tuple[Any, ...]], Head]:
    """Rows for the audit_log table (AUDIT_COLUMNS), sealed after `head` (sync.audit.seal: numbered,
    timed not before the head, hashed in the current format); returns the rows and the new head."""
    rows = []
    for entry in entries:
        sealed = seal(head, entry)
        e = sealed.entry
        rows.append(
            (sealed.head.id, e.at, e.kind, e.actor_id, e.actor_agency, e.device, e.warehouse_id, e.subject,
             _encode(e.detail).decode(), sealed.content, head.hash, sealed.head.hash)
        )  # fmt: skip
        head = sealed.head
    return rows, head


AUDIT_COLUMNS = (
    "id, at, kind, actor_id, actor_agency, device, warehouse_id, subject, detail, content, prev_hash, hash"
)
HEAD_QUERY = "SELECT id, hash, at FROM audit_log ORDER BY id DESC LIMIT 1"
"""The chain's head, read inside the write transaction that appends after it."""


def head_from_row(row: Sequence[Any] | None) -> Head:
    return Head(int(row[0]), str(row[1]), str(row[2])) if row else Head()
