"""Domain types the sync rules need: who is acting, and the checklist template an inspection follows.

Server-only domain types (warehouses, users, stock item types) live in server.models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

AGENCIES: tuple[str, ...] = ("POLRI", "TNI", "SATPOL_PP", "DISHUB", "FKDM", "KPU", "BAWASLU")
"""Agencies of the joint guard. Extensible: add a code here and to the UI strings."""

Role = Literal["officer", "supervisor", "admin"]
Agency = Annotated[str, Meta(pattern=r"^[A-Z][A-Z_]{1,19}$")]

ItemKind = Literal["yes_no", "number", "text", "seal", "choice", "photo"]

YES, NO, NA = "ya", "tidak", "na"
YES_NO_VALUES = (YES, NO, NA)

Code = Annotated[str, Meta(pattern=r"^[a-z0-9_]{1,48}$")]
TemplateId = Annotated[str, Meta(max_length=64)]

TEMPLATE_LANGUAGES = ("id", "en")
"""The languages every text of a published checklist carries (sync.vocabulary.LANGUAGES)."""
TemplateLanguage = Literal["id", "en"]


Label = (
    Annotated[str, Meta(min_length=1, max_length=300)]
    | dict[TemplateLanguage, Annotated[str, Meta(min_length=1, max_length=300)]]
)
"""A text of a checklist: per language (`{"id": "Segel pintu utuh", "en": "Door seal intact"}`),
or one string in Bahasa Indonesia (versions published before labels per language)."""
Help = Annotated[str, Meta(max_length=500)] | dict[TemplateLanguage, Annotated[str, Meta(max_length=500)]]
Unit = Annotated[str, Meta(max_length=30)] | dict[TemplateLanguage, Annotated[str, Meta(max_length=30)]]


def text_in(text: str | Mapping[Any, str], lang: str = "id") -> str:
    """A checklist text in `lang`, else in Bahasa Indonesia, else in any language it has."""
    if isinstance(text, str):
        return text
    return text.get(lang) or text.get("id") or next(iter(text.values()), "")


class Member(Struct, kw_only=True, frozen=True):
    """A user assigned to a warehouse, as the rules about signatories need them."""

    user_id: str
    role: Role
    agency: str


class Actor(Struct, kw_only=True, frozen=True):
    """The authenticated user behind a push or pull, and the device they use."""

    user_id: str
    username: str
    role: Role
    agency: str
    warehouses: frozenset[str]
    """Warehouses in scope. Supervisors and admins see the warehouses assigned to them too."""
    client_id: str = ""

    @property
    def is_supervisor(self) -> bool:
        return self.role in ("supervisor", "admin")


class TemplateItem(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    code: Code
    label: Label
    kind: ItemKind
    required: bool = False
    help: Help = ""
    choices: list[Annotated[str, Meta(min_length=1, max_length=100)]] = []
    """The answers of a choice item, as codes (what is stored and synced)."""
    choice_labels: dict[str, Label] = {}
    """What each choice is called, per language: {"normal": {"id": "Normal", "en": "Normal"}}."""
    finding_if: list[str] = []
    """Answers that are a finding (yes_no / choice), e.g. ["tidak"] for "Segel pintu utuh"."""
    expected: float | None = None
    """Expected value of a number item; when `stock_item` is set, the warehouse's expected stock."""
    integer: bool = True
    """A number item takes whole numbers only (counts of people, units, items)."""
    min: float | None = 0
    """Smallest answer of a number item (None: -MAX_QUANTITY)."""
    max: float | None = None
    """Largest answer of a number item (None: MAX_QUANTITY, sync.answers)."""
    tolerance: Annotated[float, Meta(ge=0)] = 0
    stock_item: Code | None = None
    unit: Unit = ""


class TemplateSection(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    code: Code
    title: Label
    items: Annotated[list[TemplateItem], Meta(min_length=1)]


class Template(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A published checklist. Immutable: a change is a new version with a new id."""

    id: TemplateId = ""
    code: Code
    version: Annotated[int, Meta(ge=1)] = 1
    title: Label
    sections: Annotated[list[TemplateSection], Meta(min_length=1)]
    supervisor_co_inspectors: bool = False
    """Whether a supervisor may be listed as a co-inspector (a signatory) of this checklist."""

    def items(self) -> list[TemplateItem]:
        return [item for section in self.sections for item in section.items]


def answer_field(item: TemplateItem) -> str:
    """Record field that holds an item's answer: photo items are lists of hashes (merged as a
    union), every other kind a single value (kept and flagged on conflict)."""
    return ("p." if item.kind == "photo" else "a.") + item.code


def is_finding(item: TemplateItem, answer: object, expected: float | None = None) -> bool:
    """Whether an answer is a finding by the item's rule. `expected` overrides item.expected
    (the warehouse's expected stock for a count item)."""
    if answer is None:
        return False
    if item.kind in ("yes_no", "choice"):
        return answer in item.finding_if
    if item.kind == "number" and isinstance(answer, int | float) and not isinstance(answer, bool):
        target = expected if expected is not None else item.expected
        return target is not None and abs(answer - target) > item.tolerance
    return False
