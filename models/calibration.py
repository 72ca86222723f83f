"""Calibration maps from a booster's raw probability to the observed churn rate.

The map's shape (how far the booster's confidence holds up on customers it has not seen) is
fitted on a time slice later than the booster's training data. Its level is not taken from
that slice: the booster shipped is refitted on every labelled snapshot, that slice included,
so it has learned the slice's churn rate already, and the slice's rate on top of it counted
the same drift twice (on the embedded data the probabilities came out 15 points high on
the Christmas window). The level is set instead so that the calibrated probabilities average
to the churn rate of the rows the shipped booster was fitted on (`Calibrator.relevelled`).

Stored as plain numbers (JSON), not a pickle: readable, diffable and loadable by any version
of the code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np
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

    def _log_odds(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return _logit(np.interp(raw, self.x, self.y)) + self.level
        return self.x[0] * _logit(raw) + self.y[0] + self.level

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.method == "none":
            return raw
        return expit(self._log_odds(raw))

    def relevelled(self, raw: np.ndarray, truth: np.ndarray) -> Calibrator:
        """This map shifted on the log-odds so that its probabilities for `raw` average to the rate of `truth`."""
        if self.method == "none":
            return self
        odds = self._log_odds(np.asarray(raw, dtype=float)) - self.level
        rate = float(np.mean(truth))
        level = brentq(lambda shift: float(expit(odds + shift).mean()) - rate, -_MAX_LEVEL, _MAX_LEVEL, xtol=1e-12)
        return dataclasses.replace(self, level=float(level))

    def to_dict(self) -> dict:
        return {"method": self.method, "x": list(self.x), "y": list(self.y), "level": self.level}

    @classmethod
    def from_dict(cls, data: dict) -> Calibrator:
        # Models saved before the level existed applied none.
        return cls(method=data["method"], x=tuple(data["x"]), y=tuple(data["y"]), level=float(data.get("level", 0.0)))


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
