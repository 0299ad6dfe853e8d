"""Each warehouse's overview summary, kept in the database by the pushes that change it.

A summary is the warehouse's `reports.WarehouseFold` (open findings, open incidents by severity,
stock discrepancies, last inspection per agency, drafts, reviews waiting, conflicts, recent shifts):
everything of the overview that depends only on the warehouse's records. A summary whose revision
is its warehouse's counter (`warehouse_state.revision`) is the fold of its records at that
revision. Both backends read the summaries of the warehouses a push holds with its other reads and
bring each that holds along in the push's transaction (`after_push`), in O(records written): a
push that writes none of the warehouse's overview records moves its revision on; one whose records
add only counts (incidents, conflicts, draft inspections: `counts_of`) or change shifts and
handovers has the difference of each record before and after applied to it (`apply_changes`). The
kept shifts are a top list that can lose members (a shift deleted or moved back): a summary keeps
SPARE_SHIFTS more with their revisions (`roster.kept_with_spare`), and a push that would leave
fewer than KEPT_SHIFTS known, or brings in an existing shift it does not keep, leaves the summary
behind; a new shift's handover is read by id with it (`unread`). A push that changes what is
neither (a submitted, reviewed or withdrawn inspection, a stock count or level) leaves the summary
at its revision: the next overview refolds that warehouse from its records once and
keeps it. The overview then reads one row per warehouse in scope instead of every record (issue
18): the part that depends on the time of the request (overdue, stale devices, the guard post's
flags) is composed afresh by `reports.compose`.

A summary also names the stock item types it was reconciled against and its FORMAT (`items_key`);
when an admin changes them, the shape changes, or a database has no summary yet (one migrated from
schema 5), the overview refolds
that warehouse from its records once and keeps the result (`Storage.keep_summaries`).

Pure: no SQL (the backends read and write the rows), no HTTP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

import msgspec

from server import reports, roster
from server.models import StockItemType
from server.roster import GuardShift, shift_rank
from sync.domain import Template
from sync.roster import handover_id
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


FORMAT = 2
"""The shape of a stored summary: one kept in another shape (before the kept shifts' spares) no
longer holds, and is refolded once."""


def items_key(items: Iterable[StockItemType]) -> str:
    """What identifies the stock item types a summary was reconciled against (order aside), and
    the summary's FORMAT."""
    ordered = sorted(items, key=lambda item: item.code)
    return hashlib.sha256(_encode([FORMAT, ordered])).hexdigest()[:32]


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


def unread(records: Iterable[Record], before: Mapping[str, Record | None]) -> list[str]:
    """The overview records a push wrote without reading them first (a conflict it filed, a tool's
    write), and the handover of each shift it created: what it reads, by id, before after_push()
    can bring their warehouses' summaries along."""
    records = list(records)
    wanted = {r.id for r in records if r.collection in OVERVIEW_COLLECTIONS and r.id not in before}
    written = {r.id for r in records}
    wanted |= {
        handover_id(r.id) for r in records
        if r.collection == "shifts" and before.get(r.id) is None and handover_id(r.id) not in written
    }  # fmt: skip
    return sorted(wanted - before.keys())


def summary_rows(
    folds: Mapping[str, reports.WarehouseFold], revisions: Mapping[str, int], key: str
) -> list[SummaryRow]:
    """Rows to keep, in warehouse order (row locks are always taken in that order)."""
    return [(w, revisions[w], key, _encode(folds[w]).decode()) for w in sorted(folds)]


Counts = tuple[int, int, str | None]
"""What one record adds to its warehouse's fold when that is only counts: (drafts, open conflicts,
the severity of an open incident or None)."""

NOTHING: Counts = (0, 0, None)


def counts_of(record: Record | None) -> Counts | None:
    """What `record` (None: no record) adds to its warehouse's fold, when it adds only counts: an
    incident, a conflict, a draft inspection, a record outside the overview, a deleted one. None
    when it adds more than counts (a submitted inspection, a stock count or level, a shift, a
    handover): a push that changes such a record leaves the summary to be refolded."""
    if record is None or record.deleted or record.collection not in OVERVIEW_COLLECTIONS:
        return NOTHING
    f = record.fields
    if record.collection == "incidents":
        severity = str(f.get("severity", "sedang"))
        return (0, 0, None if f.get("status") == "resolved" or severity not in reports.SEVERITY_ORDER
                else severity)  # fmt: skip
    if record.collection == "conflicts":
        return (0, int(f.get("status") == "open"), None)
    if record.collection == "inspections" and f.get("status", "draft") == "draft":
        return (1, 0, None)
    return None


def apply_changes(
    fold: reports.WarehouseFold,
    changes: Iterable[tuple[Record | None, Record]],
    read: Mapping[str, Record | None] | None = None,
) -> reports.WarehouseFold | None:
    """The fold after `changes` ((record before the push or None, record after) of one warehouse),
    from the fold before them: in O(changes), whatever the warehouse holds. None when a change is
    not only counts (counts_of), or the summary was not what its records say (a count would go
    below zero): the summary is then left behind and refolded by the next overview."""
    drafts, conflicts = fold.drafts, fold.conflicts
    incidents = dict(fold.incidents)
    changes = list(changes)
    guard = _guard_after(fold, changes, read)
    if guard is None:
        return None
    for before, after in changes:
        if after.collection in GUARD_COLLECTIONS:
            continue
        was, now = counts_of(before), counts_of(after)
        if was is None or now is None:
            return None
        drafts += now[0] - was[0]
        conflicts += now[1] - was[1]
        if was[2] is not None:
            incidents[was[2]] = incidents.get(was[2], 0) - 1
        if now[2] is not None:
            incidents[now[2]] = incidents.get(now[2], 0) + 1
    if drafts < 0 or conflicts < 0 or any(n < 0 for n in incidents.values()):
        return None
    shifts, revisions, complete = guard
    return msgspec.structs.replace(
        fold,
        drafts=drafts,
        conflicts=conflicts,
        incidents={s: incidents[s] for s in reports.SEVERITY_ORDER if incidents.get(s)},
        guard=shifts[: roster.KEPT_SHIFTS],
        guard_spare=shifts[roster.KEPT_SHIFTS :],
        guard_revisions=revisions,
        guard_complete=complete,
    )


GUARD_COLLECTIONS = ("shifts", "handovers")


def _guard_after(
    fold: reports.WarehouseFold,
    changes: list[tuple[Record | None, Record]],
    read: Mapping[str, Record | None] | None,
) -> tuple[list[GuardShift], list[int], bool] | None:
    """The kept shifts (with their spares and revisions) after `changes`, or None when they cannot
    be known without the warehouse's other shifts (a kept one left and too few are known, or a
    shift came in whose handover was not read). `read`: records the push read by id (the handover
    of each shift it created: unread())."""
    guarded = [(b, a) for b, a in changes if a.collection in GUARD_COLLECTIONS
               or (b is not None and b.collection in GUARD_COLLECTIONS)]  # fmt: skip
    shifts = [*fold.guard, *fold.guard_spare]
    if len(shifts) != len(fold.guard_revisions):  # a summary of an older FORMAT
        return None
    entries = list(zip(shifts, fold.guard_revisions, strict=True))
    complete = fold.guard_complete
    if not guarded:
        return [s for s, _ in entries], [r for _, r in entries], complete
    if any(a.collection != (b or a).collection for b, a in guarded):
        return None
    for _, after in (c for c in guarded if c[1].collection == "shifts"):
        old = next((s for s, _ in entries if s.id == after.id), None)
        entries = [(s, r) for s, r in entries if s.id != after.id]
        if after.deleted:
            continue
        if old is not None:
            handover = old.handover
        elif read is not None and handover_id(after.id) in read:
            known = read[handover_id(after.id)]
            handover = known.fields if known is not None and not known.deleted else None
        else:
            return None
        rank = shift_rank(after.fields, after.revision)
        if complete or (entries and rank > shift_rank(entries[-1][0].fields, entries[-1][1])):
            entries.append((GuardShift(id=after.id, fields=after.fields, handover=handover), after.revision))
            entries.sort(key=lambda e: shift_rank(e[0].fields, e[1]), reverse=True)
    if len(entries) > roster.KEPT_SHIFTS + roster.SPARE_SHIFTS:
        entries, complete = entries[: roster.KEPT_SHIFTS + roster.SPARE_SHIFTS], False
    if not complete and len(entries) < roster.KEPT_SHIFTS:
        return None
    for _, after in (c for c in guarded if c[1].collection == "handovers"):
        fields = None if after.deleted else after.fields
        entries = [
            (msgspec.structs.replace(s, handover=fields) if handover_id(s.id) == after.id else s, r)
            for s, r in entries
        ]
    return [s for s, _ in entries], [r for _, r in entries], complete


class PushSummaries(msgspec.Struct, kw_only=True, frozen=True):
    """What a push writes to the summaries of the warehouses it writes (rows in warehouse order)."""

    moved: list[tuple[int, str, int]]
    """(new revision, warehouse, revision before): a summary that holds, one revision on (the push
    wrote none of the warehouse's overview records)."""
    kept: list[tuple[int, str, str, int]]
    """(new revision, summary, warehouse, revision before): a summary that holds, the push's
    changes applied (apply_changes)."""


def after_push(
    records: Iterable[Record],
    before: Mapping[str, Record | None],
    revisions: Mapping[str, int],
    held: Mapping[str, int],
    stored: Mapping[str, tuple[int, str]],
) -> PushSummaries:
    """What a push does to the summaries of the warehouses it writes (`revisions`), from the
    records it wrote, each as it was before the push (`before`: None for one that did not exist; an
    id missing there was not read by the push), the warehouses' counters before it (`held`) and
    their stored summaries (`stored`: warehouse -> (revision, summary)) as read under the push's
    lock. A summary that held before the push holds after it: moved one revision on, or with the
    counts the push changed applied to it (apply_changes), in O(records written). A summary the
    push cannot bring along (a change that is not only counts, a record it did not read, a summary
    not read or not holding) is left at its revision: it no longer holds, and the overview refolds
    it from the records when it is next read (and keeps it). Refolding it in the push read and
    decoded every overview record of the warehouse while holding its writer: 9 / 35 / 190 ms a push
    at 200 / 2,000 / 10,000 incidents (docs/benchmarks.md, section 12)."""
    written: dict[str, dict[str, Record]] = {}
    for record in records:
        written.setdefault(record.warehouse_id, {})[record.id] = record
    moved: list[tuple[int, str, int]] = []
    kept: list[tuple[int, str, str, int]] = []
    for w in sorted(revisions):
        if w not in held:
            continue
        mine = written.get(w, {}).values()
        touched = [
            r for r in mine
            if r.collection in OVERVIEW_COLLECTIONS
            or ((b := before.get(r.id)) is not None and b.collection in OVERVIEW_COLLECTIONS)
        ]  # fmt: skip
        if not touched:
            moved.append((revisions[w], w, held[w]))
            continue
        revision, text = stored.get(w, (-1, ""))
        if revision != held[w] or any(r.id not in before for r in touched):
            continue
        fold = apply_changes(_decode(text), [(before[r.id], r) for r in touched], before)
        if fold is not None:
            kept.append((revisions[w], _encode(fold).decode(), w, held[w]))
    return PushSummaries(moved=moved, kept=kept)


def shown(fold: reports.WarehouseFold) -> reports.WarehouseFold:
    """What of a summary the overview shows: without the spare shifts a push keeps to bring it
    along (a maintained summary may know fewer of them than a fold from scratch, or not know it
    knows them all; what it shows is the same)."""
    return msgspec.structs.replace(fold, guard_spare=[], guard_revisions=[], guard_complete=True)


def valid_folds(stored: Mapping[str, StoredSummary], key: str) -> dict[str, reports.WarehouseFold]:
    """The stored summaries that still hold: folded at their warehouse's current revision against
    these stock item types."""
    return {
        w: _decode(s.summary) for w, s in stored.items() if s.revision == s.current and s.items_key == key
    }
