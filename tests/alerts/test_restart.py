"""A real `tigapilar serve` process killed between two attempts of a delivery: after the restart the
delivery is made, under the same delivery id, and delivered once (the receiver answers 500 to the
first attempt, 200 to the next; nothing follows)."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from server import cli
from sync.clock import HybridClock
from tests.alerts.receiver import receiver
from tests.server.test_faults import ServerProcess, seed
from tests.server.test_sync_api import INCIDENT

SECRET = "shared-with-the-command-centre"


async def wait_for(check: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


def retry_planned(db: Path) -> bool:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT attempts, lease_until FROM alert_deliveries").fetchall()
    return rows == [(1, 0)]


@pytest.mark.slow
async def test_a_server_killed_between_retries_delivers_after_restart_once_per_delivery_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await seed(tmp_path / "alerts.db", devices=1, prefix="dev-alert")
    # a retry 3 to 6 s after the first failure: long enough to kill the server before it
    monkeypatch.setenv("TIGAPILAR_ALERT_RETRY_FIRST_S", "6")
    server = ServerProcess(world.db, tmp_path / "server.log")
    with receiver(500) as rx:
        monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
        add = ["webhook", "add", rx.url, "--event", "incident.created", "--secret-stdin",
               "--allow-private", "--database", server.database]  # fmt: skip
        assert await asyncio.to_thread(cli.main, add) == 0
        server.start()
        try:
            [(client_id, token)] = world.tokens.items()
            body = {"protocol": 1, "client_id": client_id, "schema_version": 2, "mutations": [
                {"seq": 1, "id": "inc-kritis-0200", "collection": "incidents", "op": "create",
                 "warehouse_id": world.warehouse, "fields": {**INCIDENT, "severity": "kritis"},
                 "hlc": HybridClock(client_id).now()}]}  # fmt: skip
            async with httpx.AsyncClient(base_url=server.url) as http:
                pushed = await http.post(
                    "/api/sync/push", json=body, headers={"Authorization": f"Bearer {token}"}
                )
            assert pushed.status_code == 200, pushed.text
            await wait_for(lambda: len(rx.received) == 1)  # answered 500
            # Killed once the failed attempt is recorded (its lease given back, the retry planned):
            # killed between the receiver's answer and that write, the delivery would wait out its
            # lease (the attempt timeout + 30 s) before anyone tried it again.
            await wait_for(lambda: retry_planned(world.db))
            server.kill()
            server.start()
            await wait_for(lambda: len(rx.received) == 2)
            await asyncio.sleep(3)  # nothing more comes
        finally:
            server.stop()
    first, after_restart = rx.received
    assert len(rx.received) == 2
    assert first.headers["x-tigapilar-delivery"] == after_restart.headers["x-tigapilar-delivery"]
    assert after_restart.signed_by(SECRET) and first.body == after_restart.body
    assert json.loads(after_restart.body)["record"]["id"] == "inc-kritis-0200"
    assert "Traceback" not in server.log()
