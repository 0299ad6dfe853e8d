from pathlib import Path

from sync.docs import policy_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "sync-protocol.md"


def test_protocol_doc_lists_every_field_with_its_current_policy() -> None:
    assert policy_table() in DOC.read_text(encoding="utf-8"), "run `python -m sync.docs` and paste the table"
