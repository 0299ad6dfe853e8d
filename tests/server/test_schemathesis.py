"""Bad input never costs data or a 500: schemathesis generates requests from the app's own OpenAPI
schema (/schema/openapi.json), valid and invalid, and sends them in-process over ASGI, every
operation with an officer's token and with an admin's (and a supervisor's for the supervisor view
and exports). Every answer must be below 500 and, where the schema documents the status, match the
documented body.

Bounded: EXAMPLES per (operation, role), at least MIN_CASES cases in all (counted, and checked by
`test_the_run_made_at_least_5000_cases`), within a few minutes on a laptop; a case that takes longer
than CASE_TIMEOUT_S fails the run rather than hang it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from server.app import create_app
from server.config import Config
from server.storage.sqlite import SqliteStorage
from tests.factories import Factory

EXAMPLES = int(os.environ.get("TIGAPILAR_FUZZ_EXAMPLES", "70"))
"""Examples per (operation, role); set TIGAPILAR_FUZZ_EXAMPLES=500 for a deeper run by hand."""
MIN_CASES = 5000
CASE_TIMEOUT_S = 30.0
CASES: dict[tuple[str, str, str], int] = {}
"""Cases sent, per (method, path, role)."""

CLIENT_IDS = {"officer": "dev-fuzz-officer", "supervisor": "dev-fuzz-supervis", "admin": "dev-fuzz-admin01"}


async def _seed(db: Path) -> dict[str, str]:
    storage = SqliteStorage(db)
    await storage.open()
    try:
        factory = Factory(storage)
        await factory.reference_data()
        warehouse = await factory.warehouse(id="gd-fuzz")
        users = {
            "officer": await factory.user(warehouses=[warehouse]),
            "supervisor": await factory.user(role="supervisor", warehouses=[warehouse]),
            "admin": await factory.user(role="admin"),
        }
        return {role: await factory.token(user, client_id=CLIENT_IDS[role]) for role, user in users.items()}
    finally:
        await storage.close()


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str], Path]]:
    root = tmp_path_factory.mktemp("fuzz")
    db = root / "fuzz.db"
    tokens = asyncio.run(_seed(db))
    config = Config(database=f"sqlite:///{db}", static_dir=None, argon2_time_cost=1, argon2_memory_kib=8)
    app = create_app(config)  # the lifespan opens the database in schemathesis' own event loop
    yield app, tokens, db


@pytest.fixture(scope="module")
def api_schema(fuzz_world: tuple[Any, dict[str, str], Path]) -> Any:
    app, _, _ = fuzz_world
    return schemathesis.openapi.from_asgi("/schema/openapi.json", app)


def documented_operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation in the app's OpenAPI schema (no database needed)."""
    paths = create_app(Config(database="sqlite:///unused.db", static_dir=None)).openapi_schema.paths or {}
    found = []
    for path, item in paths.items():
        for method in ("get", "put", "post", "delete", "patch"):
            if getattr(item, method) is not None and (method, path) not in EXCLUDED:
                found.append((method.upper(), path))
    return sorted(found)


EXCLUDED = {
    ("get", "/api/live"),  # never ends (server-sent events); its guards: test_authz_matrix.py
    ("post", "/api/auth/logout"),  # would revoke the token the run uses; test_auth.py, the matrix
}


def roles_for(path: str) -> list[str]:
    """Every operation as an officer and as an admin; the supervisor view and exports also as a
    supervisor (an officer is refused there, an admin is let through)."""
    if path.startswith(("/api/supervisor", "/api/exports", "/api/inspections")):
        return ["officer", "supervisor", "admin"]
    return ["officer", "admin"]


RUNS = [(method, path, role) for method, path in documented_operations() for role in roles_for(path)]


# The fuzzed app runs on its own SQLite file whatever --backend says: run it once, in the SQLite half.
@pytest.mark.sqlite_only
@pytest.mark.parametrize(("method", "path", "role"), RUNS, ids=lambda v: str(v))
def test_no_input_gives_a_server_error_or_an_undocumented_answer(
    method: str, path: str, role: str, api_schema: Any, fuzz_world: tuple[Any, dict[str, str], Path]
) -> None:
    _, tokens, _ = fuzz_world
    operation = api_schema[path][method]
    strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)
    key = (method, path, role)
    CASES[key] = 0

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    def run(case: schemathesis.Case) -> None:
        if path.startswith("/api/sync/") and isinstance(case.body, dict) and "client_id" in case.body:
            case.body["client_id"] = CLIENT_IDS[role]  # reach the engine, not only the client-id check
        CASES[key] += 1
        started = time.monotonic()
        case.call_and_validate(
            headers={"Authorization": f"Bearer {tokens[role]}"},
            checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
        )
        assert time.monotonic() - started < CASE_TIMEOUT_S, "a case took too long: a hang, not a slow machine"

    run()


@pytest.mark.sqlite_only
def test_the_run_made_at_least_5000_cases() -> None:
    """The operations run above (all of them, in this module's order) sent MIN_CASES cases or more,
    with an officer's token and with an admin's."""
    if len(CASES) < len(RUNS):
        pytest.skip(f"only {len(CASES)} of {len(RUNS)} (operation, role) runs were selected")
    total = sum(CASES.values())
    print(f"schemathesis: {total} cases over {len(CASES)} (operation, role) runs")
    assert total >= MIN_CASES, total
    for role in ("officer", "admin"):
        assert sum(n for (_, _, r), n in CASES.items() if r == role) >= MIN_CASES // 3, role


@pytest.mark.sqlite_only
def test_the_fuzzed_database_is_intact(fuzz_world: tuple[Any, dict[str, str], Path]) -> None:
    """After all of it, the database and its audit chain are whole."""
    import sqlite3

    from server.audit import verify_log

    _, _, db = fuzz_world
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()

    async def verify() -> bool:
        storage = SqliteStorage(db)
        await storage.open(create=False)
        try:
            return (await verify_log(storage)).ok
        finally:
            await storage.close()

    assert asyncio.run(verify())


# -- what the fuzzer found, pinned as plain regression tests ---------------------------------------------
@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("supervisor", "/api/supervisor/inspections?to=9999-12-31"),
        ("supervisor", "/api/supervisor/incidents?from=0001-01-01"),
        ("supervisor", "/api/supervisor/charts?to=0001-01-01"),
        ("supervisor", "/api/supervisor/audit?from=0001-01-01&to=0001-01-01"),
        ("supervisor", "/api/exports/incidents.csv?to=9999-12-31"),
        ("supervisor", "/api/supervisor/audit?before=2026-01-01~99999999999999999999~gd"),
        ("supervisor", "/api/supervisor/conflicts?offset=99999999999999999999"),
    ],
)
async def test_out_of_range_dates_and_numbers_are_400_not_500(
    client: Any, factory: Factory, role: str, path: str
) -> None:
    warehouse = await factory.warehouse()
    token = await factory.token(await factory.user(role=role, warehouses=[warehouse]))  # type: ignore[arg-type]
    response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400, response.text
    assert response.json()["code"] in ("bad_range", "invalid_request", "invalid_cursor")


async def test_a_pull_with_a_huge_acked_seq_is_400_not_500(client: Any, factory: Factory) -> None:
    token = await factory.token(await factory.user(), client_id="dev-huge-0001")
    body = {"protocol": 1, "client_id": "dev-huge-0001", "cursors": {}, "acked_seq": 10**20}
    response = await client.post("/api/sync/pull", json=body, headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")


async def test_resuming_live_with_a_huge_cursor_is_400_not_500(client: Any, factory: Factory) -> None:
    warehouse = await factory.warehouse()
    token = await factory.token(await factory.user(role="supervisor", warehouses=[warehouse]))
    body = {"cursors": {warehouse.id: 10**20}}
    response = await client.post("/api/live/resume", json=body, headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
