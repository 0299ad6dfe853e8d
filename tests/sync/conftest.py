from __future__ import annotations

import pytest

from sync.engine import SyncEngine
from sync.memory import MemoryStore
from tests.sync.helpers import TEMPLATE


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    store.templates[TEMPLATE.id] = TEMPLATE
    return store


@pytest.fixture
def engine(store: MemoryStore) -> SyncEngine:
    return SyncEngine(store)
