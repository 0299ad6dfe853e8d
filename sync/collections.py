"""The synced collections: every field, its type and its merge policy.

This table is the single source of the merge rules; docs/sync-protocol.md renders it for people.

Policies (what happens when a patch changes a field that changed on the server since the
client's base revision):

flag       keep the server value, store the client's in an open conflict for supervisor review
           (counts, seal numbers, answers, and evidence text: an incident's description, location
           and action taken, an inspection's summary — two officers' contradicting accounts are
           never decided by a clock);
lww        the later hybrid-logical-clock stamp wins; the loser is kept in an auto-resolved
           conflict record, so nothing is lost where the rule is harmless (title, times, shift);
union      set union of both lists (photos, co-inspectors): nothing can be lost;
append     the patch carries new entries only; entries are appended, deduplicated by id (notes);
counter    the patch carries {"delta": n}; deltas always add, so concurrent stock movements
           both count;
immutable  set on create, never changed;
system     set only by the server through domain actions (status, submitted_at, ...).
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct

from sync.domain import AGENCIES

Policy = Literal["flag", "lww", "union", "append", "counter", "immutable", "system"]
FieldType = Literal[
    "str", "int", "number", "bool", "str_list", "photo_list", "entries", "people_by_agency", "any"
]


class FieldSpec(Struct, frozen=True, kw_only=True):
    policy: Policy
    type: FieldType
    choices: tuple[str, ...] = ()
    max_len: int = 4000
    required: bool = False
    """Must be present on create."""
    minimum: int = -(2**53)
    maximum: int = 2**53
    """Bounds of an int field, and of a counter's value after each delta."""


class CollectionSpec(Struct, frozen=True, kw_only=True):
    name: str
    fields: dict[str, FieldSpec]
    prefixed: dict[str, FieldSpec] = {}
    """Fields named by prefix, e.g. "a.segel_pintu": answers to template items."""
    actions: frozenset[str] = frozenset()

    def field(self, name: str) -> FieldSpec | None:
        spec = self.fields.get(name)
        if spec is not None:
            return spec
        prefix, dot, rest = name.partition(".")
        if dot and rest:
            return self.prefixed.get(prefix + ".")
        return None


def _f(
    policy: Policy, type_: FieldType, *choices: str, max_len: int = 4000, required: bool = False
) -> FieldSpec:
    return FieldSpec(policy=policy, type=type_, choices=choices, max_len=max_len, required=required)


MAX_QUANTITY = 1_000_000_000
"""Largest count, damaged quantity, stock level or movement: far inside ±2^53, the integers a
JavaScript phone holds exactly."""


def _quantity(policy: Policy, *, required: bool = False) -> FieldSpec:
    return FieldSpec(policy=policy, type="int", required=required, minimum=0, maximum=MAX_QUANTITY)


SHIFTS = ("pagi", "siang", "malam")
INSPECTION_STATUSES = ("draft", "submitted", "needs_fix", "reviewed")
INCIDENT_CATEGORIES = (
    "segel_rusak",
    "kerusakan_logistik",
    "akses_tidak_sah",
    "kebocoran_banjir",
    "kebakaran",
    "cctv_mati",
    "kehilangan",
    "lainnya",
)
SEVERITIES = ("rendah", "sedang", "tinggi", "kritis")
INCIDENT_STATUSES = ("open", "acknowledged", "resolved")
CONFLICT_STATUSES = ("open", "auto", "resolved")
NOTIFY_TARGETS = ("KPU", "BAWASLU", "POLRES", "POLSEK", "KORAMIL", "DAMKAR")
"""Whom an incident report offers as already told (`notified`): the phone's choices, each with a
word in sync.vocabulary. The field itself is an open list, so an older phone's value is kept."""

INSPECTIONS = CollectionSpec(
    name="inspections",
    fields={
        "template_id": _f("immutable", "str", required=True, max_len=64),
        "shift": _f("lww", "str", *SHIFTS),
        "started_at": _f("lww", "str", max_len=40),
        "co_inspectors": _f("union", "str_list"),
        "photos": _f("union", "photo_list"),
        "notes": _f("append", "entries"),
        "summary": _f("flag", "str"),
        "status": _f("system", "str", *INSPECTION_STATUSES),
        "findings": _f("system", "str_list"),
        "submitted_at": _f("system", "str"),
        "submitted_by": _f("system", "str"),
        "reviewed_at": _f("system", "str"),
        "reviewed_by": _f("system", "str"),
        "review_comment": _f("system", "str"),
        "inspector_id": _f("system", "str"),
        "inspector_agency": _f("system", "str"),
        "confirmations": _f("system", "any"),
        "report_number": _f("system", "str"),
    },
    prefixed={
        "a.": _f("flag", "any", max_len=500),
        "p.": _f("union", "photo_list"),
    },
    actions=frozenset({"submit", "review", "request_changes", "confirm"}),
)

INCIDENTS = CollectionSpec(
    name="incidents",
    fields={
        "category": _f("flag", "str", *INCIDENT_CATEGORIES, required=True),
        "severity": _f("flag", "str", *SEVERITIES, required=True),
        "title": _f("lww", "str", max_len=200),
        "description": _f("flag", "str", required=True),
        "occurred_at": _f("lww", "str", max_len=40),
        "location": _f("flag", "str", max_len=200),
        "action_taken": _f("flag", "str"),
        "assigned_agency": _f("flag", "str", *AGENCIES),
        "photos": _f("union", "photo_list"),
        "notified": _f("union", "str_list"),
        "notes": _f("append", "entries"),
        "status": _f("system", "str", *INCIDENT_STATUSES),
        "reported_by": _f("system", "str"),
        "reporter_agency": _f("system", "str"),
        "acknowledged_at": _f("system", "str"),
        "acknowledged_by": _f("system", "str"),
        "resolved_at": _f("system", "str"),
        "resolved_by": _f("system", "str"),
        "resolution": _f("system", "str"),
    },
    actions=frozenset({"acknowledge", "resolve", "reopen"}),
)

STOCK_COUNTS = CollectionSpec(
    name="stock_counts",
    fields={
        "item_type": _f("immutable", "str", required=True, max_len=48),
        "inspection_id": _f("immutable", "str", max_len=64),
        "expected": _f("system", "int"),
        "counted": _quantity("flag", required=True),
        "damaged_light": _quantity("flag"),
        "damaged_heavy": _quantity("flag"),
        "note": _f("lww", "str"),
        "counted_at": _f("lww", "str", max_len=40),
        "counted_by": _f("system", "str"),
        "counter_agency": _f("system", "str"),
    },
)

STOCK_LEVELS = CollectionSpec(
    name="stock_levels",
    fields={
        "item_type": _f("immutable", "str", required=True, max_len=48),
        "expected": _quantity("counter"),
        "movements": _f("append", "entries"),
    },
)

ROSTER_SHIFTS = CollectionSpec(
    name="shifts",
    fields={
        "date": _f("immutable", "str", required=True, max_len=10),
        "period": _f("immutable", "str", *SHIFTS, required=True),
        "starts_at": _f("lww", "str", required=True, max_len=40),
        "ends_at": _f("lww", "str", required=True, max_len=40),
        "personnel": _f("flag", "people_by_agency"),
        "commander": _f("flag", "str", max_len=64),
        "notes": _f("append", "entries"),
        "attendance": _f("system", "any"),
        "planned_by": _f("system", "str"),
    },
    actions=frozenset({"check_in", "check_out", "copy_week"}),
)

HANDOVER_STATUSES = ("open", "confirmed")

HANDOVERS = CollectionSpec(
    name="handovers",
    fields={
        "outgoing_shift": _f("immutable", "str", required=True, max_len=64),
        "incoming_shift": _f("system", "str"),
        "keys": _f("flag", "str", max_len=1000),
        "incidents": _f("union", "str_list"),
        "notes": _f("append", "entries"),
        "status": _f("system", "str", *HANDOVER_STATUSES),
        "findings": _f("system", "str_list"),
        "compared": _f("system", "any"),
        "confirmations": _f("system", "any"),
        "outgoing_commander": _f("system", "str"),
        "incoming_commander": _f("system", "str"),
    },
    prefixed={"s.": _f("flag", "str", max_len=40)},
    actions=frozenset({"confirm"}),
)

SEALS = CollectionSpec(
    name="seals",
    fields={"numbers": _f("system", "any")},
)

CONFLICTS = CollectionSpec(
    name="conflicts",
    fields={
        name: _f("system", "any")
        for name in (
            "record_id",
            "record_collection",
            "field",
            "policy",
            "reason",
            "base_rev",
            "base_value",
            "server_value",
            "server_by",
            "server_hlc",
            "client_value",
            "client_by",
            "client_hlc",
            "client_id",
            "seq",
            "status",
            "resolution",
            "resolved_by",
            "resolved_at",
            "at",
        )
    },
    actions=frozenset({"resolve"}),
)

COLLECTIONS: dict[str, CollectionSpec] = {
    spec.name: spec
    for spec in (
        INSPECTIONS,
        INCIDENTS,
        STOCK_COUNTS,
        STOCK_LEVELS,
        ROSTER_SHIFTS,
        HANDOVERS,
        SEALS,
        CONFLICTS,
    )
}
