"""`churn retrain` and `churn promote`: what a scheduler calls.

retrain = take the lock, `dvc repro` the training stages on the current data, then promote.
promote = measure the newly trained models (`challenger`) and the `champion` on the same
latest labelled window, move `champion` to the challengers (churn and CLV together) only if
the gate in models/promotion.py says so, score today's customers with the champion, redraw
the report and write the decision record (reports/retrain/decision.json, and MLflow tags).

Nothing a marketing team sees changes until every step before it has succeeded: the scores are
computed in memory first, and if writing them fails after the alias moved, the alias and the
files are put back. A rerun on unchanged data and params trains nothing new, keeps the
champion and rewrites the same files byte for byte.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from models import backtest
from models.churn import TARGET
from models.metrics import classification_metrics, value_metrics
from models.promotion import METRIC_DIRECTION, Decision, GateSettings, decide, guards
from pipeline import artifacts, config, io, report, score, tracking

CHAMPION = "champion"
MODELS = ("churn", "clv")
REPRO_TARGETS = ("kpis", "train", "train_clv")  # not `score`: the list is scored with the champion, after the gate
PUBLISHED = (config.SCORED_CUSTOMERS, config.SCORED_CUSTOMERS_PARQUET, config.CAMPAIGN_METRICS, config.DRIFT_METRICS, config.REPORT)

# Exit codes (README, "Scheduled retraining").
PROMOTED_OR_KEPT, FAILED, BAD_INPUT, LOCKED, NO_CHAMPION = 0, 1, 2, 3, 4


class Locked(Exception):
    """Another retrain holds the lock."""


class StepFailed(Exception):
    def __init__(self, step: str, cause: BaseException | str):
        super().__init__(f"{step}: {cause}")
        self.step = step


@contextlib.contextmanager
def exclusive(lock_path: Path = config.RETRAIN_LOCK) -> Iterator[None]:
    """Hold `lock_path` for the block; raise `Locked` at once if another process holds it.

    An flock dies with its process, so a killed retrain never leaves a stale lock behind.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the whole block
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise Locked(f"another retrain holds {lock_path} ({handle.read().strip() or 'holder unknown'}); nothing was changed") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC\n")
        handle.flush()
        yield
    finally:
        handle.close()


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    try:
        yield
    except (StepFailed, config.ConfigError, io.InputError):
        raise
    except Exception as exc:
        raise StepFailed(name, f"{type(exc).__name__}: {exc}") from exc


def reproduce() -> None:
    """`dvc repro` of the training stages, with this environment's commands on PATH (cron's PATH is bare)."""
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    completed = subprocess.run([sys.executable, "-m", "dvc", "repro", *REPRO_TARGETS], env=env, check=False)
    if completed.returncode != 0:
        raise StepFailed("dvc repro", f"exited with {completed.returncode} (its output is above)")


def gate_settings(params: config.RetrainParams) -> GateSettings:
    return GateSettings(**params.model_dump())


def registered_pair(client: MlflowClient, alias: str) -> tuple[ModelVersion, ModelVersion] | None:
    """The churn and CLV versions under `alias`, or None unless both have it."""
    versions = []
    for name in MODELS:
        try:
            versions.append(client.get_model_version_by_alias(name, alias))
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise
            return None
    return tuple(versions)


def check_challenger_is_on_disk(challenger: tuple[ModelVersion, ModelVersion]) -> None:
    for version, directory in zip(challenger, (config.CHURN_MODEL, config.CLV_MODEL), strict=True):
        if version.tags.get(tracking.MODEL_DIGEST_TAG) != artifacts.model_digest(directory):
            raise StepFailed(
                "gate",
                f"{version.name}@challenger (version {version.version}) is not the model in {directory}; "
                f"another pipeline registered it: rerun `dvc repro` here, or point MLFLOW_TRACKING_URI at this pipeline's store",
            )


def _run_artifact(run_id: str, artifact_path: str) -> Path | None:
    """A file a training run logged, if it did (runs from before the gate existed logged fewer)."""
    try:
        return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path))
    except (MlflowException, OSError):
        return None


def _run_backtest(run_id: str, path: Path) -> pd.DataFrame | None:
    local = _run_artifact(run_id, f"{tracking.BACKTEST_ARTIFACT}/{path.name}")
    return None if local is None else pd.read_parquet(local)


def serving_evaluation(serving) -> dict:
    """The backtest figures of the models that score the list, for the report (where their runs logged them)."""
    churn_version, clv_version = serving
    found = {
        config.CHURN_METRICS: _run_artifact(churn_version.run_id, f"metrics/{config.CHURN_METRICS.name}"),
        config.CLV_METRICS: _run_artifact(clv_version.run_id, f"metrics/{config.CLV_METRICS.name}"),
    }
    evaluation = {path: json.loads(local.read_text(encoding="utf-8")) for path, local in found.items() if local is not None}
    backtest_scores = _run_backtest(churn_version.run_id, config.CHURN_BACKTEST)
    return evaluation | ({} if backtest_scores is None else {config.CHURN_BACKTEST: backtest_scores})


def champion_predictions(client: MlflowClient, version: ModelVersion, model, backtest_path: Path, window: pd.DataFrame) -> tuple[np.ndarray, dict]:
    """The champion's predictions for the window's customers, and how they were obtained.

    Its own backtest at the window's cutoff when it has one (fitted on earlier cutoffs only, as
    the challenger's are); otherwise the registered `model` itself, which saw the window only if
    it was trained on cutoffs up to it.
    """
    cutoff = window["cutoff"].iloc[0]
    logged = _run_backtest(version.run_id, backtest_path)
    if logged is not None:
        at_window = logged[logged["cutoff"] == cutoff].set_index("customer_id")[backtest.MODEL]
        if at_window.index.is_unique and window["customer_id"].isin(at_window.index).all():
            return at_window.loc[window["customer_id"]].to_numpy(), {"evaluated_by": "its own backtest at this cutoff", "saw_window": False}
    latest = client.get_run(version.run_id).data.params.get("latest_labelled_cutoff")
    saw_window = latest is None or pd.Timestamp(latest) >= cutoff
    return model.predict(window), {"evaluated_by": f"the registered model, trained on cutoffs up to {latest}", "saw_window": saw_window}


def load_pair(versions) -> list[tuple]:
    """(model, directory of its side files) for each registered version, downloaded once per run."""
    return [score.registered_model(version.name, f"/{version.version}") for version in versions]


def quarantine_share() -> float:
    ingested = json.loads(config.INGEST_METRICS.read_text(encoding="utf-8"))
    return max(summary["rows_quarantined"] / summary["rows_in"] for summary in ingested.values() if summary["rows_in"])


def best_baseline(metric: str, baselines: dict[str, dict[str, float]]) -> float | None:
    values = [metrics[metric] for metrics in baselines.values() if metric in metrics]
    if not values:
        return None
    return max(values, key=lambda value: METRIC_DIRECTION[metric] * value)


def evaluate(params: config.Params, client: MlflowClient, challenger, champion, champion_models, scoring: pd.DataFrame) -> dict:
    """Both models on the latest labelled window, the guards and the decision: the decision record."""
    settings = gate_settings(params.retrain)
    churn_scores = pd.read_parquet(config.CHURN_BACKTEST)
    value_scores = pd.read_parquet(config.CLV_BACKTEST)
    cutoff = churn_scores["cutoff"].max()
    churn_rows = churn_scores[churn_scores["cutoff"] == cutoff].reset_index(drop=True)
    value_rows = value_scores[value_scores["cutoff"] == cutoff].set_index("customer_id").loc[churn_rows["customer_id"]].reset_index()
    training = pd.read_parquet(config.TRAINING_SNAPSHOTS)
    window = training[training["cutoff"] == cutoff].set_index("customer_id").loc[churn_rows["customer_id"]].reset_index()
    truth = churn_rows[TARGET].to_numpy()
    spend = value_rows[backtest.ACTUAL_SPEND].to_numpy()

    new = {
        "versions": {version.name: int(version.version) for version in challenger},
        "evaluated_by": "its backtest at this cutoff (fitted on earlier cutoffs only)",
        "churn": classification_metrics(truth, churn_rows[backtest.MODEL].to_numpy()),
        "customer_value": value_metrics(spend, value_rows[backtest.MODEL].to_numpy()),
    }
    baselines = {
        method: classification_metrics(truth, churn_rows[method].to_numpy(), scores_are_probabilities=backtest.is_probability(method))
        for method in backtest.methods(churn_rows) if method not in (backtest.MODEL, backtest.UNCALIBRATED)
    }
    current = None
    if champion is not None:
        (churn_model, _), (clv_model, _) = champion_models
        churn_predicted, how = champion_predictions(client, champion[0], churn_model, config.CHURN_BACKTEST, window)
        value_predicted, _ = champion_predictions(client, champion[1], clv_model, config.CLV_BACKTEST, window)
        current = {
            "versions": {version.name: int(version.version) for version in champion},
            **how,
            "churn": classification_metrics(truth, churn_predicted),
            "customer_value": value_metrics(spend, value_predicted),
        }

    challenger_model = artifacts.load_churn_model(config.CHURN_MODEL)
    reference = artifacts.load_reference(config.CHURN_MODEL)
    checks = guards(
        settings,
        calibration_error=new["churn"]["calibration_error"],
        quarantine_share=quarantine_share(),
        score_psi=None if reference is None else artifacts.stability(reference, challenger_model, scoring)[artifacts.SCORE],
        challenger_metric=new["churn"][settings.metric],
        best_baseline_metric=best_baseline(settings.metric, baselines),
        value_gini=new["customer_value"]["normalised_gini"],
        champion_value_gini=None if current is None else current["customer_value"]["normalised_gini"],
    )
    if current is not None and current["versions"] == new["versions"]:
        decision = Decision(False, "the challenger is the champion already: nothing new was trained", 0.0)
    else:
        decision = decide(settings, new["churn"][settings.metric], None if current is None else current["churn"][settings.metric], checks)

    # How far today's customers have moved from what the model in service was trained on.
    in_service, in_service_directory = (challenger_model, config.CHURN_MODEL) if champion is None else champion_models[0]
    drift = score.population_drift(artifacts.load_reference(in_service_directory), in_service, scoring, params.score.drift_psi_threshold)
    return decision.to_dict() | {
        "metric": settings.metric,
        "min_improvement": settings.min_improvement,
        "window": {"cutoff": f"{cutoff:%Y-%m-%d}", "customers": len(truth), "churn_rate": float(truth.mean()), "horizon_days": params.score.horizon_days},
        "challenger": new,
        "champion": current,
        "baselines": baselines,
        "guards": [guard.to_dict() for guard in checks],
        "drift_since_champion_trained": drift,
    }


@contextlib.contextmanager
def restored_on_failure(client: MlflowClient, champion) -> Iterator[None]:
    """Undo the block's alias moves and file writes if it fails: the champion and its list stay as they were."""
    with tempfile.TemporaryDirectory(dir=config.MODEL_DIR.parent) as backup:
        saved = {}
        for path in PUBLISHED:
            if path.is_file():
                saved[path] = Path(backup) / f"{len(saved)}_{path.name}"
                shutil.copy2(path, saved[path])
        try:
            yield
        except BaseException:
            for name, version in zip(MODELS, champion or (None, None), strict=True):
                if version is None:
                    with contextlib.suppress(MlflowException):
                        client.delete_registered_model_alias(name, CHAMPION)
                else:
                    client.set_registered_model_alias(name, CHAMPION, version.version)
            for path in PUBLISHED:
                if path in saved:
                    os.replace(saved[path], path)
                else:
                    path.unlink(missing_ok=True)
            raise


def promote(params: config.Params) -> tuple[dict, int]:
    """The gate, the alias move, the champion's list and report, the record. Returns the record and the exit code."""
    mlflow.set_tracking_uri(config.tracking_uri())
    mlflow.set_experiment(params.tracking.experiment)
    client = MlflowClient()
    with step("gate"):
        challenger = registered_pair(client, tracking.NEW_MODEL_ALIAS)
        if challenger is None:
            raise StepFailed("gate", f"no registered churn and clv models with the alias {tracking.NEW_MODEL_ALIAS!r} at {config.tracking_uri()}: run `dvc repro` first")
        check_challenger_is_on_disk(challenger)
        champion = registered_pair(client, CHAMPION)
        champion_models = None if champion is None else load_pair(champion)
        scoring, lapsed = score.snapshot(params)
        record = evaluate(params, client, challenger, champion, champion_models, scoring)

    serving = challenger if record["decision"] == "promoted" else champion
    with mlflow.start_run(run_name="retrain"):
        mlflow.set_tags({"decision": record["decision"], "reason": record["reason"], "window": record["window"]["cutoff"]})
        mlflow.log_metrics(_flat_metrics(record))
        for version in challenger:
            client.set_model_version_tag(version.name, version.version, "gate", f"{record['decision']}: {record['reason']}")
        if serving is None:
            record["champion_after"] = None
            _write_record(record)
            return record, NO_CHAMPION
        with step("score"):
            # The champion's models were loaded for the gate; a promoted challenger is loaded from the registry as it will be served.
            (churn_model, churn_directory), (clv_model, _) = champion_models if serving is champion else load_pair(serving)
            scored = score.score(params, scoring, churn_model, clv_model, churn_directory, models=f"{CHAMPION} (churn v{serving[0].version}, clv v{serving[1].version})", lapsed=lapsed)
        record["champion_after"] = {version.name: int(version.version) for version in serving}
        with step("publish"), restored_on_failure(client, champion):
            if record["decision"] == "promoted":
                for version in challenger:
                    client.set_registered_model_alias(version.name, CHAMPION, version.version)
            score.publish(params, scored)
            report.run(params, decision=record, evaluation=serving_evaluation(serving))
        _write_record(record)
    return record, PROMOTED_OR_KEPT


def _flat_metrics(record: dict) -> dict[str, float]:
    flat = {}
    for role in ("challenger", "champion"):
        for kind in ("churn", "customer_value"):
            for name, value in ((record[role] or {}).get(kind) or {}).items():
                flat[f"{role}.{kind}.{name}"] = value
    return flat


def _write_record(record: dict) -> None:
    io.write_json(record, config.DECISION)
    mlflow.log_dict(record, "decision.json")


def retrain(params: config.Params, *, reproduce_first: bool = True) -> tuple[dict, int]:
    """Under the lock: reproduce (unless told not to), then promote. A failed step leaves its record."""
    with exclusive():
        try:
            if reproduce_first:
                reproduce()
            return promote(params)
        except StepFailed as exc:
            io.write_json({"decision": "failed", "step": exc.step, "error": str(exc), "champion_after": "unchanged"}, config.DECISION)
            raise
