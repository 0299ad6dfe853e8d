"""A push whose answer is lost on the way back (the server did process it) is retried safely."""

from __future__ import annotations

import json

from playwright.async_api import Route

from tests.browser.conftest import Server
from tests.browser.helpers import login, report_incident, wait_synced

DESCRIPTION = "Orang tak dikenal mencoba masuk lewat pintu belakang"


async def test_lost_push_response_is_retried_without_duplicates(open_app, server: Server) -> None:
    app = await open_app("slamet")
    app.allow_console(r"net::ERR_FAILED.*/api/sync/push|Failed to load resource: net::ERR_FAILED")
    await login(app, "slamet")
    page = app.page

    pushes: list[dict] = []
    answers: list[dict] = []

    async def drop_first_answer(route: Route) -> None:
        pushes.append(json.loads(route.request.post_data or "{}"))
        response = await route.fetch()  # the server receives and applies the push ...
        if len(pushes) == 1:
            await route.abort()  # ... but its answer never reaches the phone
        else:
            answers.append(await response.json())
            await route.fulfill(response=response)

    await page.route("**/api/sync/push", drop_first_answer)
    incident_id = await report_incident(page, description=DESCRIPTION)
    for _ in range(600):  # the first push fails, the retry (after a backoff) gets through
        if answers:
            break
        await page.wait_for_timeout(100)
    await wait_synced(page, timeout=60_000)
    await page.unroute("**/api/sync/push")

    # The retry carried the very same mutations (same numbers, ids and stamps) ...
    assert len(pushes) >= 2
    assert pushes[1]["mutations"][: len(pushes[0]["mutations"])] == pushes[0]["mutations"]
    # ... and the server answered them from its record of the first push.
    replayed = [r for r in answers[0]["results"] if r["seq"] in {m["seq"] for m in pushes[0]["mutations"]}]
    assert replayed and all(r["replayed"] for r in replayed)

    with server.api("rina") as api:
        records = api.pull_all()
    copies = [
        r
        for r in records.values()
        if r["collection"] == "incidents" and r["fields"].get("description") == DESCRIPTION
    ]
    assert [r["id"] for r in copies] == [incident_id]
