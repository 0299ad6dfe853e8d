"""Webhooks through the admin API and the CLI: listed, added (checked), removed, all audited; the
secret never comes back."""

from __future__ import annotations

import httpx
import pytest

from server import cli
from server.storage import Storage
from tests.factories import Factory, bearer

SECRET = "a-long-enough-shared-secret"


async def test_an_admin_lists_adds_and_removes_webhooks_audited(
    client: httpx.AsyncClient, factory: Factory, storage: Storage
) -> None:
    johar = await factory.warehouse()
    admin = bearer(await factory.token(await factory.user(role="admin")))
    body = {"url": "http://127.0.0.1:8089/tg", "events": ["incident.created", "incident.resolved"],
            "warehouses": [johar.id], "secret": SECRET, "allow_private": True}  # fmt: skip
    added = await client.post("/api/admin/webhooks", json=body, headers=admin)
    assert added.status_code == 201, added.text
    hook = added.json()
    assert "secret" not in hook and hook["warehouses"] == [johar.id]
    listed = (await client.get("/api/admin/webhooks", headers=admin)).json()
    assert [h["id"] for h in listed] == [hook["id"]] and SECRET not in str(listed)
    assert (await client.delete(f"/api/admin/webhooks/{hook['id']}", headers=admin)).status_code == 204
    assert (await client.get("/api/admin/webhooks", headers=admin)).json() == []
    assert (await client.delete(f"/api/admin/webhooks/{hook['id']}", headers=admin)).status_code == 404
    kinds = [row.entry.kind async for row in storage.audit_rows()]
    assert kinds[-2:] == ["webhook.added", "webhook.removed"]
    assert SECRET not in str([row.content async for row in storage.audit_rows()])


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"allow_private": False}, "tls_required"),
        ({"url": "https://127.0.0.1/tg", "allow_private": False}, "private_target"),
        ({"events": ["incident.exploded"]}, "unknown_event"),
        ({"warehouses": ["no-such-warehouse"]}, "unknown_warehouse"),
        ({"secret": "short"}, "invalid_request"),
    ],
)
async def test_a_bad_webhook_is_a_clear_400(
    client: httpx.AsyncClient, factory: Factory, change: dict[str, object], code: str
) -> None:
    admin = bearer(await factory.token(await factory.user(role="admin")))
    body = {"url": "http://127.0.0.1:8089/tg", "events": ["incident.created"], "secret": SECRET,
            "allow_private": True, **change}  # fmt: skip
    response = await client.post("/api/admin/webhooks", json=body, headers=admin)
    assert response.status_code == 400 and response.json()["code"] == code, response.text


def test_the_cli_adds_lists_and_removes_a_webhook(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    db = ["--database", database_url]
    assert cli.main(["migrate", *db]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("https://127.0.0.1/x\n"))
    refused = cli.main(["webhook", "add", "https://127.0.0.1/x", "--event", "incident.created",
                        "--secret-stdin", *db])  # fmt: skip
    assert refused != 0 and "private_target" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    add = ["webhook", "add", "http://127.0.0.1:8089/tg", "--event", "incident.created",
           "--event", "inspection.findings", "--secret-stdin", "--allow-private"]  # fmt: skip
    assert cli.main([*add, *db]) == 0
    hook_id = capsys.readouterr().out.split()[2]
    assert cli.main(["webhook", "list", *db]) == 0
    listing = capsys.readouterr().out
    assert hook_id in listing and "inspection.findings" in listing and SECRET not in listing
    assert cli.main(["webhook", "remove", hook_id, *db]) == 0
    assert f"removed webhook {hook_id}" in capsys.readouterr().out
    assert cli.main(["webhook", "list", *db]) == 0
    assert hook_id not in capsys.readouterr().out
