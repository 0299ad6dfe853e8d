"""Reference data shipped with the server: the published inspection template and the stock item
types. `install_reference_data` adds whatever is missing and never overwrites (a template is
immutable; stock item types may have been edited by an admin)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from server.models import StockItemType
from server.storage import Conflict, Storage
from sync.domain import Template

SEED_DIR = Path(__file__).parent
TEMPLATE_FILE = SEED_DIR / "template.json"
STOCK_ITEMS_FILE = SEED_DIR / "stock_items.json"


def load_template(path: Path = TEMPLATE_FILE) -> Template:
    return msgspec.json.decode(path.read_bytes(), type=Template)


def load_stock_items(path: Path = STOCK_ITEMS_FILE) -> list[StockItemType]:
    return msgspec.json.decode(path.read_bytes(), type=list[StockItemType])


async def install_reference_data(storage: Storage) -> list[str]:
    """Install the bundled template and stock item types if missing; returns what was added."""
    added: list[str] = []
    template = load_template()
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
