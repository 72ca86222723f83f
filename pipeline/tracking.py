"""MLflow at the edge: the churn model as a pyfunc that takes the features as the pipeline writes them."""

from __future__ import annotations

import warnings
from pathlib import Path

import lightgbm as lgb
import mlflow
import pandas as pd
from mlflow.models import infer_signature

from models import churn


class ChurnModel(mlflow.pyfunc.PythonModel):
    """The LightGBM booster behind a pyfunc, so text features (plan, country, ...) are taken as text.

    The bare LightGBM flavour would need pandas categories, which JSON serving input cannot carry.
    """

    def load_context(self, context) -> None:
        self.booster = lgb.Booster(model_file=context.artifacts["booster"])

    def predict(self, context, model_input: pd.DataFrame, params=None):
        return churn.predict_churn(self.booster, model_input)


def log_churn_model(booster_file: Path, example: pd.DataFrame, probabilities) -> None:
    """Log the saved booster as a pyfunc model of the active run, with signature and input example."""
    with warnings.catch_warnings():
        # MLflow warns that integer columns cannot hold missing values; LightGBM takes them either way.
        warnings.simplefilter("ignore", UserWarning)
        mlflow.pyfunc.log_model(
            name="churn_model",
            python_model=str(Path(__file__).with_name("mlflow_model.py")),
            artifacts={"booster": str(booster_file)},
            signature=infer_signature(example, probabilities),
            input_example=example,
        )
