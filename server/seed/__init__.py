"""Reference data shipped with the server: the published versions of the inspection template and
the stock item types. `install_reference_data` adds whatever is missing and never overwrites (a
template is immutable; stock item types may have been edited by an admin).

Every version ever shipped stays in templates/ (`gudang_logistik-v1.json`, `-v2.json`, ...): a
database made before a new version gets it installed beside the old one, which the inspections
made on it keep. Version 2 carries every text in Bahasa Indonesia and English and asks every
yes/no question so that "Ya" is the good answer."""

from __future__ import annotations

from pathlib import Path

import msgspec

from server.models import StockItemType
from server.storage import Conflict, Storage
from sync.domain import Template

SEED_DIR = Path(__file__).parent
TEMPLATES_DIR = SEED_DIR / "templates"
STOCK_ITEMS_FILE = SEED_DIR / "stock_items.json"


def load_templates() -> list[Template]:
    """Every shipped template version, oldest first."""
    found = [msgspec.json.decode(p.read_bytes(), type=Template) for p in TEMPLATES_DIR.glob("*.json")]
    return sorted(found, key=lambda t: (t.code, t.version))


def load_template() -> Template:
    """The newest shipped version: what a new inspection follows."""
    return max(load_templates(), key=lambda t: t.version)


def load_stock_items(path: Path = STOCK_ITEMS_FILE) -> list[StockItemType]:
    return msgspec.json.decode(path.read_bytes(), type=list[StockItemType])


async def install_reference_data(storage: Storage) -> list[str]:
    """Install the bundled template and stock item types if missing; returns what was added."""
    added: list[str] = []
    for template in load_templates():
        if await storage.get_template(template.id) is None:
            try:
                await storage.put_template(template, published=True)
                added.append(f"template {template.id}")
            except Conflict:
                pass  # another server process starting at the same time installed it first
    known = {item.code for item in await storage.stock_item_types()}
    for item in load_stock_items():
        if item.code not in known:
            await storage.put_stock_item_type(item)
            added.append(f"stock item {item.code}")
    return added
