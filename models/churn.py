"""The churn classifier: which customers of a snapshot will not buy within the horizon.

Split by time, tune and refit as every model here is (models/training.py); then calibrate:
map the tuned model's probabilities on the validation cutoffs, a time slice it never saw, to
the observed churn rate (models/calibration.py). No class reweighting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd

from models.calibration import Calibrator, Method, fit_calibrator
from models.training import FitReport, TrainingSettings, model_inputs, tune_and_refit
from models.tuning import suggest_lightgbm

TARGET = "churned"
OBJECTIVE = {"objective": "binary", "metric": "binary_logloss"}


@dataclass(frozen=True)
class ChurnModel:
    """A booster and its calibration: calibrated churn probabilities for a snapshot."""

    booster: lgb.Booster
    calibrator: Calibrator

    @property
    def features(self) -> list[str]:
        return self.booster.feature_name()

    def raw_probabilities(self, snapshot: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(model_inputs(snapshot, self.features))

    def predict(self, snapshot: pd.DataFrame) -> np.ndarray:
        return self.calibrator(self.raw_probabilities(snapshot))

    def contributions(self, snapshot: pd.DataFrame) -> pd.DataFrame:
        """SHAP values (TreeSHAP, in log-odds) per customer and feature, from LightGBM itself."""
        values = self.booster.predict(model_inputs(snapshot, self.features), pred_contrib=True)
        return pd.DataFrame(values[:, :-1], columns=self.features, index=snapshot.index)


def churned(frame: pd.DataFrame) -> np.ndarray:
    return frame[TARGET].to_numpy(dtype=int)


def fit_churn_model(
    labelled: pd.DataFrame,
    horizon_days: int,
    settings: TrainingSettings,
    study: optuna.Study,
    trial_callbacks: Sequence[Callable] = (),
    calibration: Method = "sigmoid",
) -> tuple[ChurnModel, FitReport]:
    """Tune, calibrate on the validation cutoffs, refit on all labelled snapshots."""
    fitted = tune_and_refit(labelled, churned, horizon_days, settings, OBJECTIVE, suggest_lightgbm, study, trial_callbacks)
    calibrator = fit_calibrator(fitted.validation_predictions, churned(fitted.split.validation), calibration)
    return ChurnModel(fitted.booster, calibrator), fitted.report
