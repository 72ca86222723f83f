from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.drift import profile, psi, stability


def test_psi_by_hand():
    # (0.8 - 0.5) ln(0.8 / 0.5) + (0.2 - 0.5) ln(0.2 / 0.5) = 0.1410 + 0.2749
    assert psi({"a": 0.5, "b": 0.5}, {"a": 0.8, "b": 0.2}) == pytest.approx(0.4159, abs=1e-4)
    assert psi({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) == 0.0


def test_the_reference_is_stable_against_itself_and_a_fresh_sample_and_a_shift_is_not():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"recency_days": rng.exponential(60, 20000), "plan": rng.choice(["basic", "pro"], 20000, p=[0.7, 0.3])})
    reference.loc[:999, "recency_days"] = np.nan
    fitted = profile(reference, ["recency_days", "plan"])
    assert all(value == pytest.approx(0.0, abs=1e-12) for value in stability(fitted, reference).values())
    fresh = pd.DataFrame({"recency_days": rng.exponential(60, 5000), "plan": rng.choice(["basic", "pro"], 5000, p=[0.7, 0.3])})
    fresh.loc[:249, "recency_days"] = np.nan
    assert max(stability(fitted, fresh).values()) < 0.02
    shifted = pd.DataFrame({"recency_days": rng.exponential(120, 5000), "plan": rng.choice(["basic", "pro", "team"], 5000, p=[0.3, 0.3, 0.4])})
    drift = stability(fitted, shifted)
    assert drift["recency_days"] > 0.25 and drift["plan"] > 0.25  # a plan never seen counts too
