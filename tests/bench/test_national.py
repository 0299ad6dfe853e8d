"""bench/national.py at its smallest size against the test PostgreSQL: the section generates its
database, pushes through real `tigapilar serve` processes, samples the locks, reads the supervisor
overview and counts live wake-ups, and every figure it prints is a measured number."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import national
from bench.context import Context
from server.storage.postgres import testing as pg_testing

SMALLEST = national.Sizes(
    warehouses=40, records=400, devices=500, phones=4, mutations=5, push_s=1.0, streams=10, commits=4
)
NUMBER = re.compile(r"^\d[\d,]*(\.\d+)?( ?(ms|s|%|µs))?$")


def number(cell: str) -> float:
    assert NUMBER.match(cell), f"not a figure: {cell!r}"
    return float(cell.split()[0].rstrip("%ms").replace(",", ""))


async def test_the_national_section_prints_measured_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = pg_testing.configured_url()
    if url is None:
        pytest.skip(pg_testing.SKIP_REASON)
    monkeypatch.setenv("TIGAPILAR_BENCH_POSTGRES_URL", url)  # a fresh database there, dropped after
    gen, pushes, sup, live = await national.run(Context(workdir=tmp_path, quick=True), SMALLEST)

    failed = [what for s in (gen, pushes, sup, live) for what, ok in s.checks if not ok]
    assert not failed, failed
    assert [row[0] for row in pushes.rows] == ["1", "2", "4", "2, every phone in ONE warehouse"]
    for row in pushes.rows:
        per_s, mutations_per_s, ratio = (number(c) for c in row[2:5])
        assert per_s > 0 and mutations_per_s >= per_s and ratio > 0
        assert 0 <= number(row[5]) <= number(row[6]) <= 100 and 0 <= number(row[8]) <= 100  # shares
    # Pushes into one warehouse queue on its row; pushes into different ones do not.
    assert number(pushes.rows[-1][5]) > max(number(row[5]) for row in pushes.rows[:3])
    assert len(sup.rows) == 4
    for row in sup.rows:
        for cell in row[2:6]:
            if cell:
                assert number(cell) > 0
    assert live.rows == [["10 + 1 (the province)", "4", "2.00 / 2", "2", "0"]]
    for row in gen.rows:
        assert number(row[2].split(" (")[0]) >= 0  # seconds the step took (a number, rounded)
