from pathlib import Path

from sync.rules_data import rules_module

MODULE = Path(__file__).resolve().parents[2] / "static" / "js" / "rules-data.js"


def test_the_phones_answer_rules_are_the_ones_the_server_applies() -> None:
    assert MODULE.read_text(encoding="utf-8") == rules_module(), (
        "run `python -m sync.rules_data > static/js/rules-data.js`"
    )
