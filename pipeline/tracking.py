"""MLflow at the edge: runs, figures, and the churn model as a registered pyfunc."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: a training job has no display
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # progress bars flood a scheduler's log

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from pipeline.artifacts import load_churn_model

REGISTERED_CHURN_MODEL = "churn"
NEW_MODEL_ALIAS = "challenger"


class ChurnPyfunc(mlflow.pyfunc.PythonModel):
    """The calibrated churn model behind a pyfunc, so text features (plan, country, ...) are taken as text.

    The bare LightGBM flavour would need pandas categories, which JSON serving input cannot carry,
    and would skip the calibration.
    """

    def load_context(self, context) -> None:
        self.model = load_churn_model(context.artifacts["churn_model"])

    def predict(self, context, model_input: pd.DataFrame, params=None):
        return self.model.predict(model_input)


def log_and_register_churn_model(model_dir: Path, example: pd.DataFrame, probabilities) -> int:
    """Log the saved model to the active run, register it as `churn` and point `challenger` at it."""
    with warnings.catch_warnings():
        # MLflow warns that integer columns cannot hold missing values; LightGBM takes them either way.
        warnings.simplefilter("ignore", UserWarning)
        info = mlflow.pyfunc.log_model(
            name="churn_model",
            python_model=str(Path(__file__).with_name("mlflow_model.py")),
            artifacts={"churn_model": str(model_dir)},
            signature=infer_signature(example, probabilities),
            input_example=example,
            registered_model_name=REGISTERED_CHURN_MODEL,
        )
    version = int(info.registered_model_version)
    MlflowClient().set_registered_model_alias(REGISTERED_CHURN_MODEL, NEW_MODEL_ALIAS, version)
    return version


def log_curves(curves: dict[str, dict[str, pd.DataFrame]], axes_of: dict[str, tuple[str, str]]) -> None:
    """One figure per curve kind (ROC, PR, ...), a line per method, as run artifacts."""
    for kind, lines in curves.items():
        x, y = axes_of[kind]
        figure, axis = plt.subplots(figsize=(5, 4))
        for method, points in lines.items():
            axis.plot(points[x], points[y], label=method)
        axis.set(xlabel=x, ylabel=y, title=kind)
        axis.legend()
        mlflow.log_figure(figure, f"plots/{kind}.png")
        plt.close(figure)


def log_bar_chart(values: pd.Series, title: str, artifact: str) -> None:
    figure, axis = plt.subplots(figsize=(6, max(3, 0.25 * len(values))))
    values.sort_values().plot.barh(ax=axis)
    axis.set(title=title)
    figure.tight_layout()
    mlflow.log_figure(figure, artifact)
    plt.close(figure)
