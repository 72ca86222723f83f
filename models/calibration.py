"""Calibration maps from a booster's raw probability to the observed churn rate.

Fitted on a time slice later than the booster's training data, so the map corrects how the
model's confidence holds up on customers it has not seen. Stored as plain numbers (JSON), not
a pickle: readable, diffable and loadable by any version of the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

Method = Literal["isotonic", "sigmoid", "none"]
_EDGE = 1e-6  # keeps logits finite


def _logit(probabilities: np.ndarray) -> np.ndarray:
    return logit(np.clip(probabilities, _EDGE, 1 - _EDGE))


@dataclass(frozen=True)
class Calibrator:
    method: Method
    # isotonic: the step function's knots; sigmoid: [slope], [intercept] on the logit scale.
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.method == "isotonic":
            return np.interp(raw, self.x, self.y)
        if self.method == "sigmoid":
            return expit(self.x[0] * _logit(raw) + self.y[0])
        return raw

    def to_dict(self) -> dict:
        return {"method": self.method, "x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, data: dict) -> Calibrator:
        return cls(method=data["method"], x=tuple(data["x"]), y=tuple(data["y"]))


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
