"""How long the plan's warm-start networks train, on made-up seconds and epochs."""

from __future__ import annotations

from automl_fashion.search.lengths import solo_epochs


def test_solo_epochs() -> None:
    assert solo_epochs(None, 22, 600) == 0
    assert solo_epochs(440.0, 22, 600, 40) == 28  # (600 - 40) / 20 s an epoch
    assert solo_epochs(440.0, 22, 270) == 13  # 13.5 of 22 fit: at least 60%
    assert solo_epochs(440.0, 22, 280, 40) == 14  # the partner would cut it below 60%: all
    assert solo_epochs(440.0, 22, 260) == 0  # 13 of 22: under 60%
    assert solo_epochs(440.0, 22, 5000) == 44  # at most twice its epochs
    assert solo_epochs(440.0, 22, 5000, most=30) == 30
