"""Each warehouse's overview summary, kept in the database by the pushes that change it.

A summary is the warehouse's `reports.WarehouseFold` (open findings, open incidents by severity,
stock discrepancies, last inspection per agency, drafts, reviews waiting, conflicts, recent shifts):
everything of the overview that depends only on the warehouse's records. Both backends refold a
warehouse inside the push transaction that writes one of its overview records, and move the
summary's revision along when a push writes only other records, so a summary whose revision is its
warehouse's counter (`warehouse_state.revision`) is the fold of its records at that revision. The
overview then reads one row per warehouse in scope instead of every record (issue 18): the part that
depends on the time of the request (overdue, stale devices, the guard post's flags) is composed
afresh by `reports.compose`.

A summary also names the stock item types it was reconciled against (`items_key`); when an admin
changes them, or a database has no summary yet (one migrated from schema 5), the overview refolds
that warehouse from its records once and keeps the result (`Storage.keep_summaries`).

Pure: no SQL (the backends read and write the rows), no HTTP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

import msgspec

from server import reports
from server.models import StockItemType
from sync.domain import Template
from sync.store import Record

OVERVIEW_COLLECTIONS = (
    "inspections",
    "incidents",
    "stock_counts",
    "stock_levels",
    "conflicts",
    "shifts",
    "handovers",
)
"""The collections a warehouse's summary is folded from."""

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(reports.WarehouseFold).decode

SummaryRow = tuple[str, int, str, str]
"""(warehouse_id, revision, items_key, summary): one row of `warehouse_summary`."""


class StoredSummary(msgspec.Struct, kw_only=True, frozen=True):
    """A warehouse's summary row as read with its warehouse's counter."""

    revision: int
    """The warehouse revision the summary was folded at."""
    current: int
    """The warehouse's counter now: the summary holds when both are equal."""
    items_key: str
    summary: str


def items_key(items: Iterable[StockItemType]) -> str:
    """What identifies the stock item types a summary was reconciled against (order aside)."""
    ordered = sorted(items, key=lambda item: item.code)
    return hashlib.sha256(_encode(ordered)).hexdigest()[:32]


def template_ids(records: Iterable[Record]) -> set[str]:
    """The templates the inspections among `records` were answered on."""
    return {
        str(r.fields["template_id"])
        for r in records
        if r.collection == "inspections" and "template_id" in r.fields
    }


def fold(
    warehouse_ids: Iterable[str],
    records: Iterable[Record],
    templates: Mapping[str, Template],
    items: Sequence[StockItemType],
) -> dict[str, reports.WarehouseFold]:
    """reports.fold over the records in revision order, so ties (two inspections submitted in the
    same millisecond, two shifts starting together) resolve the same whoever reads them."""
    ordered = sorted(records, key=lambda r: (r.warehouse_id, r.revision, r.id))
    return reports.fold(warehouse_ids, ordered, templates, items)


def refold_targets(records: Iterable[Record], revisions: Mapping[str, int]) -> tuple[list[str], list[str]]:
    """Of the warehouses a push writes (`revisions`), those whose summary it must refold (an
    overview record changed) and those whose summary only follows the counter."""
    refold = {r.warehouse_id for r in records if r.collection in OVERVIEW_COLLECTIONS}
    return sorted(refold & revisions.keys()), sorted(revisions.keys() - refold)


def summary_rows(
    folds: Mapping[str, reports.WarehouseFold], revisions: Mapping[str, int], key: str
) -> list[SummaryRow]:
    """Rows to keep, in warehouse order (row locks are always taken in that order)."""
    return [(w, revisions[w], key, _encode(folds[w]).decode()) for w in sorted(folds)]


def moved_on(
    records: Iterable[Record], revisions: Mapping[str, int], held: Mapping[str, int]
) -> list[tuple[int, str, int]]:
    """(new revision, warehouse, revision before the push) of each warehouse a push writes none of
    whose overview records: its summary still holds and moves on with the counter, if it held
    before the push. The summary of a warehouse whose overview records changed is left at its
    revision: it no longer holds, and the overview refolds it from the records when it is next read
    (and keeps it). Refolding it in the push read and decoded every overview record of the
    warehouse while holding its writer: 9 / 35 / 190 ms a push at 200 / 2,000 / 10,000 incidents,
    and twice the server CPU of the reconnect storm (docs/benchmarks.md, section 12)."""
    _, follow = refold_targets(records, revisions)
    return [(revisions[w], w, held[w]) for w in follow if w in held]


def valid_folds(stored: Mapping[str, StoredSummary], key: str) -> dict[str, reports.WarehouseFold]:
    """The stored summaries that still hold: folded at their warehouse's current revision against
    these stock item types."""
    return {
        w: _decode(s.summary) for w, s in stored.items() if s.revision == s.current and s.items_key == key
    }
