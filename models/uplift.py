"""Uplift: whom a contact changes, learned from a randomized campaign, and how to judge a ranking by it.

The model is a two-model (T-) learner on LightGBM for each treatment arm. One booster learns the
outcome of the customers who got the arm, another that of the control. A customer's uplift is
the difference of the two predictions: the expected change in the outcome if contacted with that
arm. A ranking by uplift is judged only where the arm was randomized: on held-out customers,
by the difference between contacted and control among the top k (uplift at k), and by the Qini
curve and its coefficient (Radcliffe 2007). Random targeting has the campaign's average effect
at every k.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.training import REPRODUCIBLE, model_inputs

@dataclass(frozen=True)
class UpliftModel:
    treated: lgb.Booster
    control: lgb.Booster

    @property
    def features(self) -> list[str]:
        return self.treated.feature_name()

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The expected change in the outcome if contacted with the arm, per row of `frame`."""
        inputs = model_inputs(frame, self.features)
        return self.treated.predict(inputs) - self.control.predict(inputs)


def objective_for(outcome: pd.Series) -> dict:
    """Binary for a 0/1 outcome (a visit, a conversion), Tweedie for an amount (spend: mostly zeros)."""
    if set(pd.unique(outcome.dropna())) <= {0, 1}:
        return {"objective": "binary", "metric": "binary_logloss"}
    return {"objective": "tweedie", "tweedie_variance_power": 1.5, "metric": "tweedie"}


def _fit_group(frame: pd.DataFrame, features: list[str], outcome: str, params: dict, rounds: int) -> lgb.Booster:
    return lgb.train(params, lgb.Dataset(model_inputs(frame, features), frame[outcome].to_numpy(dtype=float)), num_boost_round=rounds)


def fit_uplift(
    frame: pd.DataFrame, features: list[str], outcome: str, treated: np.ndarray, control: np.ndarray,
    lightgbm: dict, rounds: int, seed: int = 42,
) -> UpliftModel:
    """A T-learner of `outcome` for the arm whose customers `treated` marks, against those `control` marks.

    A fixed number of rounds, not early stopping: stopping on each group's own loss tunes the
    two outcome models, not their difference, and measured on Hillstrom it ranked worse
    (benchmarks/uplift.py).
    """
    treated, control = np.asarray(treated, dtype=bool), np.asarray(control, dtype=bool)
    if treated.sum() < 50 or control.sum() < 50:
        raise ValueError(f"too few customers to learn uplift: {treated.sum()} contacted, {control.sum()} in the control (50 each at least)")
    params = lightgbm | REPRODUCIBLE | objective_for(frame[outcome]) | {"seed": seed}
    return UpliftModel(
        treated=_fit_group(frame[treated], features, outcome, params, rounds),
        control=_fit_group(frame[control], features, outcome, params, rounds),
    )


def _ranked(scores: np.ndarray, outcome: np.ndarray, treated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outcome and treatment in the order of the ranking: highest score first, ties in input order."""
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    return np.asarray(outcome, dtype=float)[order], np.asarray(treated, dtype=bool)[order]


def uplift_at(scores: np.ndarray, outcome: np.ndarray, treated: np.ndarray, fraction: float) -> float:
    """Among the top `fraction` by score: the mean outcome of the contacted less that of the control."""
    y, w = _ranked(scores, outcome, treated)
    top = max(1, int(round(fraction * len(y))))
    y, w = y[:top], w[:top]
    if w.all() or not w.any():
        return float("nan")
    return float(y[w].mean() - y[~w].mean())


def qini_curve(scores: np.ndarray, outcome: np.ndarray, treated: np.ndarray, points: int = 100) -> pd.DataFrame:
    """The incremental outcome, per customer of the whole set, from targeting the top fraction.

    At each fraction: the contacted's total outcome among the top, less the control's scaled to
    the contacted's number there (Radcliffe's Qini). Random targeting is the straight line to the
    value at 1.
    """
    y, w = _ranked(scores, outcome, treated)
    treated_total, control_total = np.cumsum(y * w), np.cumsum(y * ~w)
    treated_count, control_count = np.cumsum(w), np.cumsum(~w)
    scale = np.divide(treated_count, control_count, out=np.zeros(len(y)), where=control_count > 0)
    incremental = (treated_total - control_total * scale) / len(y)
    at = np.unique(np.linspace(0, len(y), points + 1).round().astype(int))
    values = np.concatenate([[0.0], incremental])[at]
    return pd.DataFrame({"fraction": at / len(y), "incremental": values})


def qini_coefficient(scores: np.ndarray, outcome: np.ndarray, treated: np.ndarray) -> float:
    """The area between the ranking's Qini curve and random targeting's line (0 for a random ranking)."""
    curve = qini_curve(scores, outcome, treated, points=len(scores))
    random_line = curve["fraction"] * curve["incremental"].iloc[-1]
    return float(np.trapezoid(curve["incremental"] - random_line, curve["fraction"]))


def evaluation(scores: np.ndarray, outcome: np.ndarray, treated: np.ndarray, fractions: tuple[float, ...] = (0.1, 0.3, 0.5)) -> dict:
    """Uplift at each fraction, the Qini coefficient, and random targeting's uplift (the average effect)."""
    y, w = np.asarray(outcome, dtype=float), np.asarray(treated, dtype=bool)
    return {
        "uplift_at": {f"{fraction:g}": uplift_at(scores, y, w, fraction) for fraction in fractions},
        "qini": qini_coefficient(scores, y, w),
        "random": float(y[w].mean() - y[~w].mean()),
    }
