import pytest

from sync.generate import GENERATED, ROOT


@pytest.mark.parametrize("path", sorted(GENERATED))
def test_the_web_apps_constants_and_words_are_the_ones_the_sync_core_holds(path: str) -> None:
    assert (ROOT / path).read_text(encoding="utf-8") == GENERATED[path](), (
        f"{path} drifted from sync/: run `python -m sync.generate`"
    )


def test_every_collection_and_operation_has_a_word_in_both_languages() -> None:
    """The sync page, the audit trail and the refused changes name a change by its collection and
    operation: a (collection, op) added to sync.ops without a word would show its code."""
    from sync.collections import COLLECTIONS
    from sync.ops import OPERATIONS
    from sync.vocabulary import WORDS

    for lang in ("id", "en"):
        missing = [c for c in COLLECTIONS if f"collection.{c}" not in WORDS[lang]]
        missing += [
            f"{c}.{op}"
            for c, op in OPERATIONS
            if f"op.{c}.{op}" not in WORDS[lang] and f"op.{op}" not in WORDS[lang]
        ]
        assert missing == [], f"{lang}: no word for {missing}"


def test_every_rejection_the_sync_core_raises_has_a_word_in_both_languages() -> None:
    """The phone and the supervisor pages show why a change was refused by its code, in the page's
    language (the server's message is for logs): a code without a word would read "Refused by the
    server" and say nothing."""
    import re

    from sync.vocabulary import WORDS

    raised = set()
    for path in (ROOT / "sync").glob("*.py"):
        raised |= set(re.findall(r'Rejection\(\s*"([a-z_]+)"', path.read_text(encoding="utf-8")))
    assert len(raised) > 20, raised  # the scan finds them (a changed call style would not)
    for lang in ("id", "en"):
        missing = sorted(c for c in raised if f"reject.{c}" not in WORDS[lang])
        assert missing == [], f"{lang}: no word for {missing}"
