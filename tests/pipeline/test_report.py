from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.report import share_of_leavers_in_top_tenth


def test_the_share_of_leavers_in_the_top_tenth_by_hand():
    churned = np.array([1] * 20 + [0] * 80)
    perfect = pd.DataFrame({"churned": churned, "model": np.linspace(1, 0, 100)})
    assert share_of_leavers_in_top_tenth(perfect) == pytest.approx(0.5)  # 10 flagged, all leavers, of 20
    backwards = perfect.assign(model=-perfect["model"])
    assert share_of_leavers_in_top_tenth(backwards) == pytest.approx(0.0)
