"""Checklist answers checked against the inspection's template version, and text normalised.

An answer field is `a.<item code>` (`p.<item code>` for photo items) on an inspection. Each is
refused unless the item exists in the inspection's template version and the value fits the item's
kind; what is kept is the normalised value, so the findings computed from it at submit (by the
server, sync.rules.check_answers) are the same whatever invisible characters or letter case a phone
sent. The phone applies the same rules before queueing (static/js/answers.js, from the data of
`rules_data()` generated into static/js/rules-data.js), to help the officer; this module decides.

Text normalisation (`normalise_text`): Unicode NFC, zero-width and other format characters and
control characters removed (a line break is kept where the field allows several lines), runs of
spaces in single-line text collapsed, whitespace trimmed at both ends.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from sync.collections import MAX_QUANTITY, FieldSpec
from sync.domain import YES_NO_VALUES, Template, TemplateItem, text_in
from sync.errors import Rejection
from sync.merge import SHA256_PATTERN

SEAL_PATTERN = r"^[A-Z0-9](?:[A-Z0-9 ./-]{0,38}[A-Z0-9])?$"
"""A seal number after normalisation (upper case, single spaces): letters, digits, space, dot,
slash and hyphen, 1 to 40 characters, starting and ending with a letter or digit, e.g.
"KPU-JB 004217". It must hold at least one digit."""

MAX_ANSWER_TEXT = 500

_SEAL = re.compile(SEAL_PATTERN)
SPACES_PATTERN = r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+"
"""A run of spaces that single-line text collapses into one space."""
REMOVED_CATEGORIES = ("Cc", "Cf")
"""Unicode categories removed from text: control characters, and format characters (zero-width
space and joiners, byte order mark, bidirectional marks)."""

_SPACES = re.compile(SPACES_PATTERN)


def _removed(ch: str, multiline: bool) -> bool:
    if ch == "\n":
        return not multiline
    return unicodedata.category(ch) in REMOVED_CATEGORIES


def normalise_text(value: str, *, multiline: bool = False) -> str:
    """NFC, control and zero-width characters removed, trimmed; single-line text also gets its runs
    of spaces collapsed into one. Line breaks (`\\r\\n`, `\\r`) become `\\n` where kept."""
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    if not multiline:
        text = text.replace("\n", " ").replace("\t", " ")
    text = "".join(ch for ch in text if (ch == "\t" and multiline) or not _removed(ch, multiline))
    if not multiline:
        text = _SPACES.sub(" ", text)
    return text.strip()


def _keyword(value: str) -> str:
    return normalise_text(value).casefold()


def check_answer(item: TemplateItem, field: str, value: Any) -> Any:
    """The value to store for an answer to `item`, or Rejection("invalid_value") naming the field."""

    def bad(why: str) -> Rejection:
        return Rejection("invalid_value", f"{field} ({text_in(item.label)}): {why}")

    if value is None:
        return None  # clearing an answer
    kind = item.kind
    if kind == "photo":
        return value  # a photo_list field: its hashes are checked with its type (sync.merge)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise bad("expected a number")
        if item.integer and not float(value).is_integer():
            raise bad("expected a whole number")
        low = item.min if item.min is not None else -MAX_QUANTITY
        high = item.max if item.max is not None else MAX_QUANTITY
        if not low <= value <= high:
            raise bad(f"must be between {_plain(low)} and {_plain(high)}")
        return int(value) if item.integer else value
    if not isinstance(value, str):
        raise bad("expected text")
    if kind == "yes_no":
        answer = _keyword(value)
        if answer not in YES_NO_VALUES:
            raise bad(f"must be one of {', '.join(YES_NO_VALUES)}")
        return answer
    if kind == "choice":
        wanted = _keyword(value)
        for choice in item.choices:
            if choice.casefold() == wanted:
                return choice
        raise bad(f"must be one of {', '.join(item.choices)}")
    if kind == "seal":
        return check_seal(value, bad)
    text = normalise_text(value, multiline=True)
    if len(text) > MAX_ANSWER_TEXT:
        raise bad(f"longer than {MAX_ANSWER_TEXT} characters")
    return text


def check_seal(value: str, bad: Callable[[str], Rejection]) -> str:
    """A seal number normalised (upper case, single spaces), '' for none; `bad` words the refusal."""
    seal = normalise_text(value).upper()
    if seal == "":
        return ""
    if not _SEAL.match(seal) or not any(c.isdigit() for c in seal):
        raise bad("a seal number is letters, digits, spaces, '-', '/' or '.', with at least one digit")
    return seal


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def answer_item(template: Template, field: str) -> TemplateItem:
    """The template item an answer field names, or Rejection("unknown_field")."""
    prefix, _, code = field.partition(".")
    for item in template.items():
        if item.code == code:
            if (item.kind == "photo") != (prefix == "p"):
                wanted = ("p." if item.kind == "photo" else "a.") + code
                raise Rejection("unknown_field", f"{field}: the answer to {code} is the field {wanted}")
            return item
    raise Rejection("unknown_field", f"{field}: template {template.id} has no item {code}")


def check_answers_fields(template: Template, fields: dict[str, Any]) -> dict[str, Any]:
    """Every answer field of a create or patch checked and normalised; other fields as they are."""
    checked = dict(fields)
    for name, value in fields.items():
        if name.startswith(("a.", "p.")):
            checked[name] = check_answer(answer_item(template, name), name, value)
    return checked


def normalise_field(field: FieldSpec, value: Any) -> Any:
    """A validated field value with its free text normalised (choices and ids stay as sent)."""
    if field.type == "str" and isinstance(value, str) and not field.choices:
        return normalise_text(value, multiline=True)
    if field.type == "entries" and isinstance(value, list):
        return [
            {
                k: normalise_text(v, multiline=True) if isinstance(v, str) and k != "id" else v
                for k, v in e.items()
            }
            for e in value
        ]
    return value


def rules_data() -> dict[str, Any]:
    """The answer rules as data for the phone (static/js/rules-data.js, generated)."""
    return {
        "maxQuantity": MAX_QUANTITY,
        "removedCategories": list(REMOVED_CATEGORIES),
        "spacesPattern": SPACES_PATTERN,
        "maxAnswerText": MAX_ANSWER_TEXT,
        "sealPattern": SEAL_PATTERN,
        "sha256Pattern": SHA256_PATTERN,
        "yesNoValues": list(YES_NO_VALUES),
    }
