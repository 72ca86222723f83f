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

from models.errors import InsufficientData
from models.training import REPRODUCIBLE, model_inputs

FRACTIONS = (0.1, 0.3, 0.5)


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
    """Binary for a 0/1 outcome (a visit, a conversion), Tweedie for an amount (spend: mostly zeros),
    squared error for an amount that can be negative (spend net of returns)."""
    if set(pd.unique(outcome.dropna())) <= {0, 1}:
        return {"objective": "binary", "metric": "binary_logloss"}
    if (outcome < 0).any():
        return {"objective": "regression", "metric": "l2"}
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
        raise InsufficientData(f"too few customers to learn uplift: {treated.sum()} contacted, {control.sum()} in the control (50 each at least)")
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


def evaluation(scores: np.ndarray, outcome: np.ndarray, treated: np.ndarray, fractions: tuple[float, ...] = FRACTIONS) -> dict:
    """Uplift at each fraction, the Qini coefficient, and random targeting's uplift (the average effect)."""
    y, w = np.asarray(outcome, dtype=float), np.asarray(treated, dtype=bool)
    return {
        "uplift_at": {f"{fraction:g}": uplift_at(scores, y, w, fraction) for fraction in fractions},
        "qini": qini_coefficient(scores, y, w),
        "random": float(y[w].mean() - y[~w].mean()),
    }


@dataclass(frozen=True)
class UpliftSettings:
    holdout_share: float
    rounds: int
    seed: int
    lightgbm: dict


def held_out(arms: pd.Series, share: float, seed: int) -> np.ndarray:
    """Rows set aside to judge the rankings: `share` of each arm's customers, drawn at random."""
    rng = np.random.default_rng(seed)
    chosen = np.zeros(len(arms), dtype=bool)
    for positions in pd.Series(np.arange(len(arms))).groupby(arms.to_numpy(), sort=True).groups.values():
        positions = np.asarray(positions)
        chosen[rng.choice(positions, size=int(round(share * len(positions))), replace=False)] = True
    return chosen


@dataclass(frozen=True)
class ArmJudged:
    """One arm's rankings judged on held-out customers of the arm and the control."""

    evaluation: dict[str, dict]
    """{ranking: uplift at k, Qini coefficient, random targeting's uplift}"""
    qini: pd.DataFrame
    """ranking, fraction, incremental: each ranking's Qini curve"""


def judge_arm(
    campaign: pd.DataFrame, features: list[str], arm: str, control: str, outcome: str, settings: UpliftSettings,
    compare_with: dict[str, str] | None = None,
) -> ArmJudged:
    """Fit the arm's T-learner on the customers not held out; rank the held-out ones by it, by
    each of `compare_with` ({name: column}, what a team would rank by otherwise) and by the
    model refitted on shuffled arms (what chance finds); judge each where the arm was randomized."""
    in_play = campaign[campaign["arm"].isin([arm, control])].reset_index(drop=True)
    test = held_out(in_play["arm"], settings.holdout_share, settings.seed)
    train, judged = in_play[~test], in_play[test]
    treated = judged["arm"].eq(arm).to_numpy()
    fit = lambda arms: fit_uplift(train, features, outcome, arms == arm, arms == control, settings.lightgbm, settings.rounds, settings.seed)  # noqa: E731
    rankings = {"uplift model": fit(train["arm"].to_numpy()).predict(judged)}
    for name, column in (compare_with or {}).items():
        rankings[name] = pd.to_numeric(judged[column], errors="coerce").fillna(-np.inf).to_numpy()
    rankings["uplift model, arms shuffled"] = fit(np.random.default_rng(settings.seed).permutation(train["arm"].to_numpy())).predict(judged)
    y = judged[outcome].to_numpy(dtype=float)
    curves = [qini_curve(scores, y, treated).assign(ranking=name) for name, scores in rankings.items()]
    return ArmJudged(
        evaluation={name: evaluation(scores, y, treated) for name, scores in rankings.items()},
        qini=pd.concat(curves, ignore_index=True)[["ranking", "fraction", "incremental"]],
    )


def fit_arms(campaign: pd.DataFrame, features: list[str], arms: list[str], control: str, outcome: str, settings: UpliftSettings) -> dict[str, UpliftModel]:
    """Each arm's T-learner on every customer of the campaign: the models that score."""
    models = {}
    for arm in arms:
        in_play = campaign[campaign["arm"].isin([arm, control])]
        models[arm] = fit_uplift(in_play, features, outcome, in_play["arm"].eq(arm), in_play["arm"].eq(control), settings.lightgbm, settings.rounds, settings.seed)
    return models


def best_arm(scores: pd.DataFrame) -> pd.DataFrame:
    """Per customer, the arm whose contact earns the most (customer_id, best_arm, incremental_profit);
    the arm's name breaks ties, so reruns agree."""
    ranked = scores.sort_values(["customer_id", "incremental_profit", "arm"], ascending=[True, False, True], kind="stable")
    best = ranked.drop_duplicates("customer_id")[["customer_id", "arm", "incremental_profit"]]
    return best.rename(columns={"arm": "best_arm"}).reset_index(drop=True)
