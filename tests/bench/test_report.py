"""docs/benchmarks.md is rewritten by `python -m bench`: a full run replaces its generated block,
a run of some sections (`--only`) only their parts of it; the hand-written text always stays."""

from __future__ import annotations

from pathlib import Path

from bench.report import BEGIN, END, Section, render, write_doc, write_parts

MACHINE = {"date": "2026-12-07 18:00 UTC", "cores": "2"}
PROSE = "# Benchmarks\n\nHand-written reading notes.\n"
AFTER = "\n## Notes after the block\n\nMore prose.\n"


def section(key: str, figure: str) -> Section:
    result = Section(key, f"{key} title", ["measure", "value"])
    result.add("throughput", figure)
    return result


def full_run(doc: Path) -> None:
    parts = {
        "push": [section("push", "11,212")],
        "storm": [section("storm", "2,163"), section("footprint", "211 MiB")],
        "pwa": [section("pwa", "502 ms")],
    }
    write_doc(doc, render(MACHINE, parts, command="python -m bench", quick=False))
    doc.write_text(doc.read_text() + AFTER)


def run_push_alone(doc: Path) -> None:
    """`python -m bench --only push` a day later."""
    write_parts(
        doc,
        {**MACHINE, "date": "2026-12-08 09:00 UTC"},
        {"push": [section("push", "12,345")]},
        command="python -m bench --only push",
        quick=False,
    )


def test_a_run_of_one_section_rewrites_only_its_part(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(PROSE)
    full_run(doc)
    before = doc.read_text()
    assert before.startswith(PROSE) and before.endswith(AFTER)

    run_push_alone(doc)
    text = doc.read_text()
    assert text.startswith(PROSE) and text.endswith(AFTER)
    assert "12,345" in text and "11,212" not in text
    assert "run on its own: `python -m bench --only push`, 2026-12-08 09:00 UTC" in text
    # Everything else in the block is as the full run wrote it: its header and the other parts.
    assert "Run: `python -m bench`" in text and "2026-12-07 18:00 UTC" in text
    for kept in ("2,163", "211 MiB", "502 ms"):
        assert kept in text
    unchanged = before.split("<!-- bench:storm:begin -->", 1)[1]
    assert text.split("<!-- bench:storm:begin -->", 1)[1] == unchanged

    # The same run twice leaves the same file (the part is replaced, not added again).
    run_push_alone(doc)
    assert doc.read_text() == text


def test_a_section_the_block_does_not_hold_yet_is_added_to_it(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(PROSE)
    full_run(doc)
    write_parts(
        doc, MACHINE, {"link": [section("link", "800 ms")]}, command="python -m bench --only link", quick=True
    )
    text = doc.read_text()
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert "<!-- bench:link:begin -->" in block and "800 ms" in block
    assert "(quick: smaller sizes" in block
    for kept in ("11,212", "2,163", "502 ms"):
        assert kept in block
    assert text.endswith(AFTER)


def test_a_doc_without_a_block_gets_one(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(PROSE)
    write_parts(
        doc, MACHINE, {"push": [section("push", "9,000")]}, command="python -m bench --only push", quick=False
    )
    text = doc.read_text()
    assert text.startswith(PROSE.rstrip()) and BEGIN in text and END in text and "9,000" in text
