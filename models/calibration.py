"""Calibration maps from a booster's raw probability to the churn rate to come.

Two parts, each from evidence the booster did not fit:
- the map's **shape** (how far the booster's confidence holds up on customers it has not seen)
  is fitted on a time slice later than the booster's training data (the validation cutoffs),
  then carried to the booster refitted on every labelled snapshot: the sigmoid's slope applies
  to any booster's log-odds; the isotonic steps are a map from the rank of a prediction among
  the validation rows, so they are carried over by rank (`Calibrator.carried_over`);
- the map's **level** (`Calibrator.levelled`): the refitted booster averages the churn rate of
  all the cutoffs it learned from, but the rate can move from window to window. Which forecast
  of the next window's rate to trust is decided on the per-cutoff rates (`forecast_rate`): the
  mean of the latest k cutoffs' rates, k = 1, 2, 3 or all, whichever would have forecast the
  earlier cutoffs best. Where the long mean wins (the rate wanders without a trend), the level
  stays the booster's own: its probabilities average to the rate of all the rows it learned from,
  adjusted by what the features say of each cutoff. Where a recent mean wins (the rate shifted
  to stay), the probabilities of the latest labelled cutoff's customers are brought to it.

Measured on the shared data (benchmarks/outcomes.py, docs/evaluation.md): where the rate is steady (CDNOW,
churnsim) the map changes little; where it jumps within a season (Online Retail before
Christmas) no forecast from past windows foresees it.

Stored as plain numbers (JSON), not a pickle: readable, diffable and loadable by any version
of the code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

Method = Literal["isotonic", "sigmoid", "none"]
_EDGE = 1e-6  # keeps logits finite
_MAX_LEVEL = 20.0  # a shift of the log-odds beyond which no probability moves any more


def _logit(probabilities: np.ndarray) -> np.ndarray:
    return logit(np.clip(probabilities, _EDGE, 1 - _EDGE))


@dataclass(frozen=True)
class Calibrator:
    method: Method
    # isotonic: the step function's knots; sigmoid: [slope], [intercept] on the logit scale.
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    level: float = 0.0  # added to the log-odds after the map (see the module docstring)
    level_rule: str = ""  # how the level was chosen, in words (calibration.json)

    def _log_odds(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return _logit(np.interp(raw, self.x, self.y)) + self.level
        return self.x[0] * _logit(raw) + self.y[0] + self.level

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.method == "none":
            return raw
        return expit(self._log_odds(raw))

    def levelled(self, raw: np.ndarray, rate: float, rule: str = "", weights: np.ndarray | None = None) -> Calibrator:
        """This map shifted on the log-odds so that its probabilities for `raw` average to `rate` (weighted by `weights`)."""
        if self.method == "none":
            return self
        odds = self._log_odds(np.asarray(raw, dtype=float)) - self.level
        rate = min(max(float(rate), _EDGE), 1 - _EDGE)
        level = brentq(lambda shift: float(np.average(expit(odds + shift), weights=weights)) - rate, -_MAX_LEVEL, _MAX_LEVEL, xtol=1e-12)
        return dataclasses.replace(self, level=float(level), level_rule=rule)

    def carried_over(self, fitted_on: np.ndarray, same_rows_now: np.ndarray) -> Calibrator:
        """This map for another booster whose predictions for the rows it was fitted on are `same_rows_now`.

        Isotonic steps are placed at the same ranks among those rows; a sigmoid's slope holds for
        any booster's log-odds (its level is set anew by `levelled`)."""
        if self.method != "isotonic":
            return self
        before, now = np.sort(np.asarray(fitted_on, dtype=float)), np.sort(np.asarray(same_rows_now, dtype=float))
        rank = np.searchsorted(before, self.x, side="left").clip(0, len(now) - 1)
        return dataclasses.replace(self, x=tuple(map(float, np.maximum.accumulate(now[rank]))))

    def to_dict(self) -> dict:
        return {"method": self.method, "x": list(self.x), "y": list(self.y), "level": self.level, "level_rule": self.level_rule}

    @classmethod
    def from_dict(cls, data: dict) -> Calibrator:
        # Models saved before the level existed applied none.
        return cls(
            method=data["method"], x=tuple(data["x"]), y=tuple(data["y"]),
            level=float(data.get("level", 0.0)), level_rule=data.get("level_rule", ""),
        )


RATE_WINDOWS = (1, 2, 3, None)  # the latest k cutoffs' mean; None: every cutoff's


def forecast_rate(rates: pd.Series, horizon_days: int, customers: pd.Series | None = None) -> tuple[float, int | None, str]:
    """The churn rate one horizon after the latest of `rates` (per cutoff, indexed by cutoff), the
    number of latest cutoffs it is the mean of (None: all of them) and the rule in words.

    Each candidate, the mean of the latest k rates, is tried on every earlier cutoff from the
    cutoffs whose labels had closed by then. The mean of all is kept unless a recent mean missed
    by less, by more than a cutoff's rate wanders by chance (its binomial standard error, from
    `customers` per cutoff): a steady rate's noise picks no trend.
    """
    rates = rates.sort_index()
    chance = 0.0 if customers is None else float(np.mean(np.sqrt(rates * (1 - rates) / customers.reindex(rates.index))))
    cutoffs = rates.index
    errors = {k: [] for k in RATE_WINDOWS}
    for cutoff, rate in rates.items():
        known = rates[cutoffs <= cutoff - pd.Timedelta(days=horizon_days)]
        if len(known):
            for k in RATE_WINDOWS:
                errors[k].append(abs(known.iloc[-(k or len(known)):].mean() - rate))
    scored = {k: float(np.mean(found)) for k, found in errors.items() if found}
    best = min(reversed(RATE_WINDOWS), key=lambda k: scored.get(k, np.inf)) if scored else None
    if best is not None and scored[best] > scored[None] - chance:
        best = None
    rate = float(rates.iloc[-(best or len(rates)):].mean())
    if not scored:
        return rate, None, f"the mean churn rate of all {len(rates)} labelled cutoffs (too few to compare forecasts)"
    which = f"the latest {best} labelled cutoff(s)" if best else f"all {len(rates)} labelled cutoffs"
    return rate, best, (f"the mean churn rate of {which}, {rate:.4f}: the forecast that missed the {len(errors[best])} earlier cutoffs "
                        f"it could be tried on by least (mean absolute error {scored[best]:.4f})")


def fit_calibrator(raw: np.ndarray, truth: np.ndarray, method: Method) -> Calibrator:
    raw = np.asarray(raw, dtype=float)
    truth = np.asarray(truth, dtype=int)
    if method == "isotonic":
        isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, truth)
        return Calibrator("isotonic", tuple(map(float, isotonic.X_thresholds_)), tuple(map(float, isotonic.y_thresholds_)))
    if method == "sigmoid":
        # Platt scaling on the logit, unpenalised: two numbers fitted on thousands of rows need no prior.
        platt = LogisticRegression(C=np.inf).fit(_logit(raw).reshape(-1, 1), truth)
        return Calibrator("sigmoid", (float(platt.coef_[0, 0]),), (float(platt.intercept_[0]),))
    return Calibrator("none")
