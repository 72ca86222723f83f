"""The contract of a model the pipeline trains.

A model is one file, `models/<name>.py`, that defines `PROCEDURE`: a `Procedure` subclass saying
how the model is fitted, how a fitted one is judged at a backtest fold, which plots it declares
and which model class it makes (a `BoosterModel`: predict, and save and load through `saved` and
`restored`). Name the file in params.yaml's `train.models` (and give it a section of its own if
it has settings): the generic `train` stage (pipeline/train.py, one DVC stage per model) backtests
it, fits it, saves it, logs it to MLflow and registers it under its name.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

import optuna
import pandas as pd

from models.training import BoosterModel, FitReport, TrainingSettings

if TYPE_CHECKING:  # models/backtest.py reads the churn model's module, which imports this one
    from models.backtest import Fold

Curves = dict[str, tuple[Callable, tuple[str, str]]]  # kind -> (points(truth, scores), its x and y columns)


class Procedure(ABC):
    """How one model is fitted and judged, given the search settings, its own section and the horizon."""

    name: ClassVar[str]  # its file, its params section, its registered name and the name of its outputs
    model_type: ClassVar[type[BoosterModel]]
    loss: ClassVar[str]  # the validation loss its search minimises, as logged
    truth: ClassVar[str]  # the outcome column of its backtest rows
    curves: ClassVar[Curves]  # the plots it declares
    shap_units: ClassVar[str]  # what its SHAP values are in
    headline: ClassVar[tuple[str, ...]]  # its backtest metrics worth a line when it is trained, the first with its interval
    drift_checked: ClassVar[bool] = False  # whether scoring compares today's customers and scores with its training rows (a reference profile)

    def __init__(self, search: TrainingSettings, own: dict, horizon_days: int):
        self.search, self.own, self.horizon_days = search, own, horizon_days

    @abstractmethod
    def fit(self, labelled: pd.DataFrame, study: optuna.Study, trial_callbacks: Sequence[Callable] = ()) -> tuple[BoosterModel, FitReport]:
        """Tune and fit on labelled snapshots."""

    @abstractmethod
    def evaluate(self, fold: Fold, model: BoosterModel) -> pd.DataFrame:
        """Its backtest rows at one fold: customer_id, cutoff, the truth, `model` and every baseline's score."""

    @abstractmethod
    def plot_points(self, scores: pd.DataFrame) -> dict[str, dict[str, pd.DataFrame]]:
        """{curve: {method: points}} of the backtest rows, one entry per kind in `curves`."""

    def details(self) -> dict:
        """What its final fit records besides the search's figures (its own settings that matter)."""
        return {}

    def explained(self, snapshots: pd.DataFrame) -> pd.DataFrame:
        """The rows its SHAP summary reads: the snapshots as its model sees them."""
        return snapshots


def procedure(name: str) -> type[Procedure]:
    """The procedure `models/<name>.py` defines."""
    found = getattr(importlib.import_module(f"models.{name}"), "PROCEDURE", None)
    if not (isinstance(found, type) and issubclass(found, Procedure) and found.name == name):
        raise TypeError(f"models/{name}.py defines no PROCEDURE named {name!r} (models/base.py)")
    return found
