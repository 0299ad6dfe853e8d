"""The phone's stock page shows each item's latest count, whether it came from a stock count or from
an inspection's answer for that item (issue 17: it showed an older stock count while the
supervisor's page showed the inspection's count of today), with who counted it."""

from __future__ import annotations

import uuid

from playwright.async_api import expect

from server.seed import load_template
from tests.browser.conftest import App, Server
from tests.browser.helpers import WAREHOUSE, count_stock, go, login, sync_now
from tests.server.test_report_numbers import all_good_answers


async def test_the_latest_count_is_shown_whether_from_a_stock_count_or_an_inspection(
    open_app, server: Server
) -> None:
    app: App = await open_app("slamet")
    await login(app, "slamet")
    page = app.page
    await count_stock(page, "kotak_suara", 354)
    await sync_now(page)
    last = page.locator("fieldset.stock-row[data-item=kotak_suara] .last-count")
    await go(page, f"#/w/{WAREHOUSE}/stock")
    await expect(last).to_have_attribute("data-source", "stock_count")
    await expect(last).to_contain_text("Hitungan terakhir: 354")

    # Later, Agus counts 356 boxes inside an inspection he sends from his own phone.
    template = load_template()
    record_id = str(uuid.uuid4())
    fields = {"template_id": template.id, "shift": "pagi", **all_good_answers(template)}
    fields["a.jumlah_kotak_suara"] = 356
    with server.api("agus") as api:
        results = api.push(
            {
                "collection": "inspections",
                "op": "create",
                "id": record_id,
                "warehouse_id": WAREHOUSE,
                "fields": fields,
            },
            {"collection": "inspections", "op": "submit", "id": record_id},
        )
        assert [r["status"] for r in results] == ["applied", "applied"], results
    await sync_now(page)
    await go(page, f"#/w/{WAREHOUSE}/stock")
    await expect(last).to_have_attribute("data-source", "inspection")
    await expect(last).to_contain_text("Hitungan terakhir: 356")
    await expect(last).to_contain_text("dalam inspeksi")
    await expect(last).to_contain_text("Agus")

    # A stock count after the inspection is the latest again.
    await count_stock(page, "kotak_suara", 355)
    await go(page, f"#/w/{WAREHOUSE}/stock")
    await expect(last).to_have_attribute("data-source", "stock_count")
    await expect(last).to_contain_text("Hitungan terakhir: 355")
    await expect(last).to_contain_text("Slamet")
