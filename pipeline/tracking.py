"""MLflow at the edge: runs, figures, and the models as registered pyfuncs."""

from __future__ import annotations

import os
import socket
import warnings
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # progress bars flood a scheduler's log

import mlflow
import pandas as pd
from matplotlib.figure import Figure  # figures straight to files: no pyplot state, no display, no backend to set
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from models.base import procedure
from pipeline import config
from pipeline.artifacts import load_model, model_artifact, model_digest

NEW_MODEL_ALIAS = "challenger"
CHAMPION_ALIAS = "champion"  # moved by `churn retrain`'s gate only; the published list is always its
MODEL_DIGEST_TAG = "model_digest"  # ties a registered version to the model files a stage wrote
BACKTEST_ARTIFACT = "evaluation"  # each training run's backtest predictions, for a later champion/challenger gate


PROCESS_TAG = "process"  # host:pid of the process that ran it: a RUNNING run whose process is gone was killed


def start_tracking(experiment: str) -> None:
    """Runs go to `experiment` of the configured store; runs a killed process left RUNNING are ended first."""
    mlflow.set_tracking_uri(config.tracking_uri())
    mlflow.set_experiment(experiment)
    end_killed_runs(experiment)


def start_run(name: str, nested: bool = False) -> mlflow.ActiveRun:
    """An MLflow run tagged with the process running it (see `end_killed_runs`)."""
    return mlflow.start_run(run_name=name, nested=nested, tags={PROCESS_TAG: f"{socket.gethostname()}:{os.getpid()}"})


def end_killed_runs(experiment: str) -> list[str]:
    """Mark KILLED the runs of `experiment` left RUNNING by a process of this host that no longer
    exists (killed with no chance to end them). Returns their ids."""
    client, host = MlflowClient(), socket.gethostname()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    ended = []
    for run in client.search_runs([found.experiment_id], "attributes.status = 'RUNNING'"):
        owner_host, _, pid = run.data.tags.get(PROCESS_TAG, "").rpartition(":")
        if owner_host == host and pid.isdigit() and not _alive(int(pid)):
            client.set_terminated(run.info.run_id, "KILLED")
            ended.append(run.info.run_id)
    return ended


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def aliased_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version of the registered model `name` under `alias`, or None if there is none."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        return None


class SnapshotModelPyfunc(mlflow.pyfunc.PythonModel):
    """A churn or CLV model behind a pyfunc: a snapshot's rows in, one prediction per row out.

    Text features (plan, country, ...) are taken as text: the bare LightGBM flavour would need
    pandas categories, which JSON serving input cannot carry, and would skip the churn calibration.
    """

    def load_context(self, context) -> None:
        [(artifact, directory)] = context.artifacts.items()
        self.directory = directory  # where the model's side files (e.g. its reference profile) are
        self.model = load_model(procedure(artifact.removesuffix("_model")).model_type, directory)

    def predict(self, context, model_input: pd.DataFrame, params=None):
        return self.model.predict(model_input)


ChurnPyfunc = SnapshotModelPyfunc  # the name that churn models registered before the CLV model load by


# What loading a registered model needs (pipeline/mlflow_model.py and the model files it reads),
# pinned to this environment. Written out because MLflow's inference imports the model in a
# subprocess (6 s a model) and still missed LightGBM, which the models import when they load.
SERVING_PACKAGES = ("churn-clv-pipeline", "mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow")


def serving_requirements() -> list[str]:
    return [f"{package}=={version(package)}" for package in SERVING_PACKAGES]


def log_and_register_model(registered_name: str, model_dir: Path, example: pd.DataFrame, predictions) -> int:
    """Log the saved model to the active run, register it as `registered_name`, point `challenger` at it."""
    artifact = model_artifact(registered_name)
    with warnings.catch_warnings():
        # MLflow warns that integer columns cannot hold missing values; LightGBM takes them either way.
        warnings.simplefilter("ignore", UserWarning)
        info = mlflow.pyfunc.log_model(
            name=artifact,
            python_model=str(Path(__file__).with_name("mlflow_model.py")),
            artifacts={artifact: str(model_dir)},
            signature=infer_signature(example, predictions),
            input_example=example,
            pip_requirements=serving_requirements(),
            registered_model_name=registered_name,
        )
    version = int(info.registered_model_version)
    client = MlflowClient()
    client.set_model_version_tag(registered_name, str(version), MODEL_DIGEST_TAG, model_digest(model_dir))
    client.set_registered_model_alias(registered_name, NEW_MODEL_ALIAS, version)
    return version


def log_curves(curves: dict[str, dict[str, pd.DataFrame]], axes_of: dict[str, tuple[str, str]]) -> None:
    """One figure per curve kind (ROC, PR, ...), a line per method, as run artifacts."""
    for kind, lines in curves.items():
        x, y = axes_of[kind]
        figure = Figure(figsize=(5, 4))
        axis = figure.subplots()
        for method, points in lines.items():
            axis.plot(points[x], points[y], label=method)
        axis.set(xlabel=x, ylabel=y, title=kind)
        axis.legend()
        mlflow.log_figure(figure, f"plots/{kind}.png")


def log_bar_chart(values: pd.Series, title: str, artifact: str) -> None:
    figure = Figure(figsize=(6, max(3, 0.25 * len(values))))
    axis = figure.subplots()
    values.sort_values().plot.barh(ax=axis)
    axis.set(title=title)
    figure.tight_layout()
    mlflow.log_figure(figure, artifact)
