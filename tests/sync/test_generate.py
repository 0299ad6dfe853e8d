import pytest

from sync.generate import GENERATED, ROOT


@pytest.mark.parametrize("path", sorted(GENERATED))
def test_the_web_apps_constants_and_words_are_the_ones_the_sync_core_holds(path: str) -> None:
    assert (ROOT / path).read_text(encoding="utf-8") == GENERATED[path](), (
        f"{path} drifted from sync/: run `python -m sync.generate`"
    )
