"""Codes in words for documents the server writes (the berita acara PDF, the CSV exports for
people), from the shared vocabulary (sync/vocabulary.py) and the checklist's own labels, as the web
apps' static/js/labels.js says them on screen."""

from __future__ import annotations

from typing import Any

from server.models import Warehouse
from sync.domain import TemplateItem, text_in
from sync.vocabulary import Language, has_word, word


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def agency_label(code: Any, lang: Language = "id") -> str:
    if not code:
        return "—"
    for key in (f"agency.{code}", f"notify.{code}"):
        if has_word(key):
            return word(key, lang)
    return str(code)


def warehouse_address(warehouse: Warehouse, lang: Language = "id") -> str:
    """The parts of a warehouse's address, each once (as static/js/labels.js warehouseAddress):
    a kelurahan of the same name as its kecamatan is said once."""
    w = warehouse
    places = (
        [word("address.kelurahan_kecamatan", lang, name=w.kelurahan)]
        if w.kelurahan and w.kelurahan == w.kecamatan
        else [
            word("address.kelurahan", lang, name=w.kelurahan) if w.kelurahan else "",
            word("address.kecamatan", lang, name=w.kecamatan) if w.kecamatan else "",
        ]
    )
    parts = [w.floor_room, w.address, *places, w.kota]
    return ", ".join(dict.fromkeys(part for part in parts if part))


def number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def choice_text(item: TemplateItem, code: Any, lang: Language = "id") -> str:
    """A choice by its label in the template, else the shared word (versions without labels)."""
    if code in item.choice_labels:
        return text_in(item.choice_labels[code], lang)
    key = f"choice.{code}"
    return word(key, lang) if has_word(key) else str(code).replace("_", " ")


def answer_text(item: TemplateItem, value: Any, lang: Language = "id") -> str:
    """An answer as the supervisor view shows it (static/js/labels.js answerText)."""
    if value is None or value == "" or value == []:
        return "—"
    if item.kind == "photo":
        return word("report.photos", lang, count=len(_strings(value)))
    if item.kind == "yes_no":
        if isinstance(value, bool):
            value = "ya" if value else "tidak"
        key = f"answer.{value}"
        return word(key, lang) if has_word(key) else str(value)
    if item.kind == "number":
        return f"{number_text(value)} {text_in(item.unit, lang)}".strip()
    if item.kind == "choice":
        return choice_text(item, value, lang)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
