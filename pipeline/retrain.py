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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from pydantic import ValidationError

from models import backtest
from models.base import procedure
from models.churn import TARGET, ChurnModel
from models.outcomes import paired_realised_profit
from models.promotion import LIST_PROFIT_COMPARISON, MODELS_COMPARISON, PROCEDURES_COMPARISON, Decision, Evidence, Guard, at_least, at_most, decide
from pipeline import artifacts, config, files, report, score, tracking, training_rows
from pipeline.outcomes import fold_models, list_outcomes
from pipeline.train import PROCEDURE_ARTIFACT, fitter, fold_fits, procedure_record

CHAMPION = tracking.CHAMPION_ALIAS
MODELS = ("churn", "clv")
REPRO_TARGETS = ("kpis", "train")  # not `score`: the list is scored with the champion, after the gate
PUBLISHED = (config.SCORED_CUSTOMERS, config.SCORED_CUSTOMERS_PARQUET, config.CAMPAIGN_METRICS, config.DRIFT_METRICS, config.REPORT)

# Exit codes (docs/retraining.md, "Scheduling it").
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
            raise Locked(f"another retrain holds {lock_path} ({_holder(handle)}); nothing was changed") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC\n")
        handle.flush()
        yield
    finally:
        handle.close()


def _holder(handle: IO[str], patience: float = 2.0) -> str:
    """Who holds the lock, as its holder wrote it; the holder writes just after taking it, so wait a moment."""
    deadline = time.monotonic() + patience
    while True:
        handle.seek(0)
        written = handle.read()
        if written.endswith("\n") or time.monotonic() > deadline:
            return written.strip() or "holder unknown"
        time.sleep(0.05)


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    try:
        yield
    except (StepFailed, config.ConfigError, files.InputError):
        raise
    except Exception as exc:
        raise StepFailed(name, f"{type(exc).__name__}: {exc}") from exc


def reproduce() -> None:
    """`dvc repro` of the training stages, with this environment's commands on PATH (cron's PATH is bare)."""
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    completed = subprocess.run([sys.executable, "-m", "dvc", "repro", *REPRO_TARGETS], env=env, check=False)
    if completed.returncode != 0:
        raise StepFailed("dvc repro", f"exited with {completed.returncode} (its output is above)")


def registered_pair(client: MlflowClient, alias: str) -> tuple[ModelVersion, ModelVersion] | None:
    """The churn and CLV versions under `alias`, or None unless both have it."""
    versions = tuple(tracking.aliased_version(client, name, alias) for name in MODELS)
    return None if any(version is None for version in versions) else versions


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


def load_pair(versions) -> list[tuple | None]:
    """(model, directory of its side files) for each registered version (None for none), downloaded once per run."""
    return [None if version is None else score.registered_model(version.name, f"/{version.version}") for version in versions]


@dataclass(frozen=True)
class Judged:
    """What the gate needs to know about one of the two models."""

    name: str  # the registered model: churn or clv
    metric: str
    backtest: Path
    metrics: Path
    truth: str


def judged(params: config.Params) -> list[Judged]:
    metric = {"churn": params.retrain.metric, "clv": params.retrain.value_metric}
    return [Judged(name, metric[name], config.ModelOutputs(name).backtest, config.ModelOutputs(name).metrics, procedure(name).truth) for name in MODELS]


@dataclass(frozen=True)
class Facts:
    """What the gate reads from this pipeline's files, read once before anything is judged (`read_facts`)."""

    training: pd.DataFrame  # the training snapshots: the window's customers and features
    backtests: dict[str, pd.DataFrame]  # each judged model's backtest scores
    metrics: dict[str, dict]  # each judged model's backtest metrics
    quarantine_share: float  # the largest share of an input file's rows quarantined by ingest
    challenger: ChurnModel  # the churn challenger on disk, for its scores' stability
    reference: dict | None  # the profile of its training rows


def read_facts(models: list[Judged]) -> Facts:
    ingested = json.loads(config.INGEST_METRICS.read_text(encoding="utf-8"))
    return Facts(
        training=pd.read_parquet(config.TRAINING_SNAPSHOTS),
        backtests={model.name: pd.read_parquet(model.backtest) for model in models},
        metrics={model.name: json.loads(model.metrics.read_text(encoding="utf-8")) for model in models},
        quarantine_share=max(summary["rows_quarantined"] / summary["rows_in"] for summary in ingested.values() if summary["rows_in"]),
        challenger=artifacts.load_churn_model(config.CHURN_MODEL),
        reference=artifacts.load_reference(config.CHURN_MODEL),
    )


def latest_window(scores: pd.DataFrame) -> pd.DataFrame:
    """The backtest's rows at its latest cutoff: the newest customers whose outcome is known."""
    return scores[scores["cutoff"] == scores["cutoff"].max()].reset_index(drop=True)


def labels_end(client: MlflowClient, version: ModelVersion) -> pd.Timestamp | None:
    """The last day whose outcome the version's training labels saw (None: its run did not record it)."""
    logged = client.get_run(version.run_id).data.params
    if "latest_labelled_cutoff" not in logged or "horizon_days" not in logged:
        return None
    return pd.Timestamp(logged["latest_labelled_cutoff"]) + pd.Timedelta(days=int(logged["horizon_days"]))


def compared_rows(rows: pd.DataFrame, truth: str, challenger: np.ndarray, champion: np.ndarray) -> pd.DataFrame:
    return rows[["customer_id", "cutoff", truth]].assign(**{backtest.CHALLENGER: challenger, backtest.CHAMPION: champion}).reset_index(drop=True)


def models_evidence(model: Judged, params: config.Params, window_rows: pd.DataFrame, champion_predictions: np.ndarray, champion_end) -> Evidence:
    """The champion as registered against the challenger's procedure fitted on the labels closed by the window's cutoff."""
    cutoff = window_rows["cutoff"].iloc[0]
    rows = compared_rows(window_rows, model.truth, window_rows[backtest.MODEL].to_numpy(), champion_predictions)
    paired = backtest.paired_advantage(rows, model.metric, params.train.bootstrap_replicates, params.train.seed)
    fair = champion_end is not None and champion_end <= cutoff
    seen = "unknown" if champion_end is None else f"{champion_end:%Y-%m-%d}"
    return Evidence.paired(
        MODELS_COMPARISON, paired, fair,
        f"the champion as registered (its training labels end {seen}) against the challenger's procedure fitted on every label "
        f"closed by {cutoff:%Y-%m-%d} (its backtest model), on the {len(rows):,} customers at {cutoff:%Y-%m-%d} and what they did "
        f"in the next {params.score.horizon_days} days"
        + ("" if fair else "; the champion saw part of these outcomes, so only a challenger ahead counts"),
    )


def procedures_evidence(model: Judged, params: config.Params, champion: ModelVersion, facts: Facts) -> Evidence | str:
    """The champion's recorded procedure replayed on the challenger's backtest folds, against the challenger's backtest.

    Returns why not, in words, where it cannot be replayed."""
    local = _run_artifact(champion.run_id, PROCEDURE_ARTIFACT)
    if local is None:
        return "the champion's run recorded no procedure to replay"
    recorded = json.loads(local.read_text(encoding="utf-8"))
    current = procedure_record(params, model.name)
    if recorded == current:
        return Evidence(PROCEDURES_COMPARISON, 0.0, 0.0, 0.0, True,
                        "the champion's recorded procedure is the challenger's (the same params): they differ only in the data they saw")
    if recorded.get("horizon_days") != current["horizon_days"]:
        return f"the champion predicts {recorded.get('horizon_days')} days ahead, the challenger {current['horizon_days']}: their procedures answer different questions"
    try:
        fit = fitter(model.name, recorded)
    except ValidationError as exc:
        return f"the champion's recorded params are not valid for this code ({exc.error_count()} errors)"
    except KeyError as exc:
        return f"the champion's recorded procedure lacks {exc} (recorded by an earlier version of this code)"
    scores = facts.backtests[model.name]
    learnt = config.TrainParams(**recorded["train"])  # the champion's procedure learns from its own sample of the rows
    training = training_rows.read(config.TRAINING_SNAPSHOTS, learnt.rows_per_cutoff, learnt.seed)
    folds = training_rows.backtest_folds(config.TRAINING_SNAPSHOTS, training, params.score.horizon_days, params.train.backtest_folds)
    replayed = []
    for fold, replay, _, _ in fold_fits(folds, fit, recorded["train"]["tune"], f"replay-{model.name}"):
        replayed.append(pd.DataFrame({"customer_id": fold.evaluation["customer_id"].to_numpy(), "cutoff": fold.cutoff, backtest.CHAMPION: replay.predict(fold.evaluation)}))
    rows = scores.merge(pd.concat(replayed), on=["customer_id", "cutoff"], validate="one_to_one")
    rows = compared_rows(rows, model.truth, rows[backtest.MODEL].to_numpy(), rows[backtest.CHAMPION].to_numpy())
    paired = backtest.paired_advantage(rows, model.metric, params.train.bootstrap_replicates, params.train.seed)
    sections = [section for section in current if section != "horizon_days"]
    changed = sorted(key for section in sections for key in recorded.get(section, {}) if recorded[section][key] != current[section].get(key))
    return Evidence.paired(
        PROCEDURES_COMPARISON, paired, True,
        f"the champion's recorded procedure replayed against the challenger's ({', '.join(changed) or 'params'} differ), "
        f"each fitted at the {len(folds)} backtest cutoffs {', '.join(f'{fold.cutoff:%Y-%m-%d}' for fold in folds)} on the labels closed by then, "
        f"on the same {len(rows):,} customer-cutoffs",
    )


def list_profit_evidence(params: config.Params, client: MlflowClient, facts: Facts, champion, champion_models) -> Evidence:
    """The list the challengers' backtest models would have built on the window against the champions' list, by realised profit."""
    cutoff = facts.backtests["churn"]["cutoff"].max()
    window = facts.training[facts.training["cutoff"] == cutoff].reset_index(drop=True)
    new = list_outcomes(params, window, *fold_models(cutoff))
    old = list_outcomes(params, window, *(model for model, _ in champion_models))
    paired = paired_realised_profit(new, old, score.list_settings(params).campaign, params.train.bootstrap_replicates, params.train.seed)
    ends = [labels_end(client, version) for version in champion]
    fair = all(end is not None and end <= cutoff for end in ends)
    return Evidence.paired(
        LIST_PROFIT_COMPARISON, paired, fair,
        f"the realised profit of the campaign the challengers' backtest models would have picked from the {len(window):,} customers at "
        f"{cutoff:%Y-%m-%d} ({paired['first']:,.0f}) against the champions' pick ({paired['second']:,.0f}), who left in the next "
        f"{params.score.horizon_days} days known, each saved leaver valued at the two lists' mean spend if retained"
        + ("" if fair else "; the champions saw part of these outcomes, so only the challengers' list ahead counts"),
    )


def guards(model: Judged, facts: Facts, score_psi: float | None, settings: config.RetrainParams) -> list[Guard]:
    """What a challenger must pass whatever the comparison says: clean enough data, not behind any classic baseline
    beyond doubt and, for the churn model, calibrated on the window with scores that stay put on today's customers."""
    tops = [paired[model.metric]["high"] for paired in facts.metrics[model.name]["model_advantage"].values() if model.metric in paired]
    checks = [
        at_most("data_quality", facts.quarantine_share, settings.max_quarantine_share, "the largest share of an input file's rows quarantined by ingest"),
        at_least("beats_baselines", min(tops) if tops else None, 0.0,
                 f"the top of the 95% interval of the challenger's {model.metric} minus each classic baseline's, the least of them (backtest)"),
    ]
    if model.name == "churn":
        window_error = backtest.rows_metrics(latest_window(facts.backtests[model.name]), backtest.MODEL)["calibration_error"]
        checks += [
            at_most("calibration", window_error, settings.max_calibration_error,
                    "mean |predicted - observed churn rate| over ten equal-count bins of the window (the challenger's backtest model)"),
            at_most("score_stability", score_psi, settings.max_score_psi, "PSI of the challenger's scores on today's customers against its own training rows"),
        ]
    return checks


def forced_by(drift: dict, has_champion: bool, max_score_psi: float) -> list[str]:
    """Why the champion is due for a change whatever the comparison says (a challenger not worse then replaces it)."""
    if has_champion and drift.get("checked") and drift["score_psi"] > max_score_psi:
        return [f"the champion's scores on today's customers moved from its training rows by PSI {drift['score_psi']:.2f} (limit {max_score_psi})"]
    return []


def decision_record(judgements: dict[str, dict], churn_backtest: pd.DataFrame, horizon_days: int) -> dict:
    """The models' judgements as one decision: promoted if either was."""
    window = latest_window(churn_backtest)
    promoted = [name for name in MODELS if judgements[name]["decision"] == "promoted"]
    return {
        "decision": "promoted" if promoted else "kept",
        "promoted": promoted,
        "reason": "; ".join(f"{name} {judgements[name]['decision']}: {judgements[name]['reason']}" for name in MODELS),
        "window": {"cutoff": f"{window['cutoff'].max():%Y-%m-%d}", "customers": len(window), "churn_rate": float(window[TARGET].mean()),
                   "horizon_days": horizon_days},
        **judgements,
    }


def judge(model: Judged, params: config.Params, client: MlflowClient, challenger: ModelVersion, champion: ModelVersion | None,
          champion_model, facts: Facts, checks: list[Guard], forced_by: list[str], joint: list[Evidence]) -> dict:
    """One model's gate: its figures on the window, the evidence against the champion, the decision."""
    window_rows = latest_window(facts.backtests[model.name])
    cutoff = window_rows["cutoff"].iloc[0]
    training = facts.training
    window = training[training["cutoff"] == cutoff].set_index("customer_id").loc[window_rows["customer_id"]].reset_index()
    record = {"metric": model.metric, "challenger": {"version": int(challenger.version), "window": backtest.rows_metrics(window_rows, backtest.MODEL)}}
    if champion is None:
        decision = decide(model.metric, [], checks, has_champion=False)
        return decision.to_dict() | record | {"champion": None}
    champion_predictions = champion_model.predict(window)
    record["champion"] = {"version": int(champion.version), "window": backtest.rows_metrics(window_rows.assign(**{backtest.MODEL: champion_predictions}), backtest.MODEL)}
    champion_end = labels_end(client, champion)
    record["champion"]["labels_end"] = None if champion_end is None else f"{champion_end:%Y-%m-%d}"
    record["champion"]["saw_window"] = champion_end is None or champion_end > cutoff
    if champion.version == challenger.version:
        return Decision(False, "the challenger is the champion already: nothing new was trained", [], checks).to_dict() | record
    evidence = [models_evidence(model, params, window_rows, champion_predictions, champion_end)]
    if not evidence[0].fair and not evidence[0].for_challenger:
        replayed = procedures_evidence(model, params, champion, facts)
        if isinstance(replayed, Evidence):
            evidence.append(replayed)
        else:
            record["procedures_not_compared"] = replayed
    return decide(model.metric, evidence + joint, checks, has_champion=True, forced_by=forced_by).to_dict() | record


def evaluate(params: config.Params, client: MlflowClient, challenger, champion, champion_models, scoring: pd.DataFrame) -> dict:
    """Both models judged, each on its own metric: the decision record."""
    models, settings = judged(params), params.retrain
    facts = read_facts(models)
    has_champion = champion is not None and champion[0] is not None
    # How far today's customers have moved from what the model in service was trained on.
    in_service, in_service_directory = champion_models[0] if has_champion else (facts.challenger, config.CHURN_MODEL)
    drift = score.population_drift(artifacts.load_reference(in_service_directory), in_service, scoring, settings.max_score_psi)
    score_psi = None if facts.reference is None else artifacts.stability(facts.reference, facts.challenger, scoring)[artifacts.SCORE]

    # The list both challengers would have built, where there are two champions and something new to judge.
    joint = []
    if champion is not None and None not in (champion_models or (None,)) and any(
        old is None or old.version != new.version for new, old in zip(challenger, champion, strict=True)
    ):
        joint.append(list_profit_evidence(params, client, facts, champion, champion_models))
    judgements = {
        model.name: judge(model, params, client, new, old, old_model, facts, guards(model, facts, score_psi, settings),
                          forced_by(drift, has_champion, settings.max_score_psi), joint)
        for model, new, old, old_model in zip(
            models, challenger, champion or (None, None), [pair and pair[0] for pair in champion_models or (None, None)], strict=True
        )
    }
    return decision_record(judgements, facts.backtests["churn"], params.score.horizon_days) | {"drift_since_champion_trained": drift}


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
    """The gate, the alias moves, the champions' list and report, the record. Returns the record and the exit code."""
    mlflow.set_tracking_uri(config.tracking_uri())
    mlflow.set_experiment(params.tracking.experiment)
    client = MlflowClient()
    with tracking.start_run("retrain"):
        with step("gate"):
            challenger = registered_pair(client, tracking.NEW_MODEL_ALIAS)
            if challenger is None:
                raise StepFailed("gate", f"no registered churn and clv models with the alias {tracking.NEW_MODEL_ALIAS!r} at {config.tracking_uri()}: run `dvc repro` first")
            check_challenger_is_on_disk(challenger)
            champion = champion_versions(client)
            champion_models = None if champion is None else load_pair(champion)
            scoring, lapsed = score.snapshot(params)
            record = evaluate(params, client, challenger, champion, champion_models, scoring)

        serving = tuple(new if record[name]["decision"] == "promoted" else old
                        for name, new, old in zip(MODELS, challenger, champion or (None, None), strict=True))
        mlflow.set_tags({"decision": record["decision"], "reason": record["reason"], "window": record["window"]["cutoff"]})
        mlflow.log_metrics(_flat_metrics(record))
        for name, new, old in zip(MODELS, challenger, champion or (None, None), strict=True):
            judged_here = record[name]
            client.set_model_version_tag(name, new.version, "gate", f"{judged_here['decision']}: {judged_here['reason']}")
            if old is not None and old.version != new.version:
                outcome = "replaced by" if judged_here["decision"] == "promoted" else "kept against"
                client.set_model_version_tag(name, old.version, "last_challenge", f"{outcome} version {new.version}: {judged_here['reason']}")
        if any(version is None for version in serving):
            # Each model is promoted on its own, but nothing is scored until both have a champion.
            for name, new in zip(MODELS, challenger, strict=True):
                if record[name]["decision"] == "promoted":
                    client.set_registered_model_alias(name, CHAMPION, new.version)
            record["champion_after"] = {version.name: int(version.version) for version in serving if version is not None} or None
            _write_record(record)
            return record, NO_CHAMPION
        with step("score"):
            # Models loaded for the gate are reused; a promoted challenger is loaded from the registry as it will be served.
            loaded = [in_service if version is kept else score.registered_model(version.name, f"/{version.version}")
                      for version, kept, in_service in zip(serving, champion or (None, None), champion_models or (None, None), strict=True)]
            (churn_model, churn_directory), (clv_model, _) = loaded
            scored = score.score(params, scoring, churn_model, clv_model, churn_directory,
                                 models=f"{CHAMPION} (churn v{serving[0].version}, clv v{serving[1].version})", lapsed=lapsed)
        record["champion_after"] = {version.name: int(version.version) for version in serving}
        with step("publish"), restored_on_failure(client, champion):
            for name, new in zip(MODELS, challenger, strict=True):
                if record[name]["decision"] == "promoted":
                    client.set_registered_model_alias(name, CHAMPION, new.version)
            score.publish(params, scored)
            report.run(params, decision=record, evaluation=serving_evaluation(serving))
        _write_record(record)
    return record, PROMOTED_OR_KEPT


def champion_versions(client: MlflowClient) -> tuple[ModelVersion | None, ModelVersion | None] | None:
    """The churn and clv versions under `champion` (either may be missing), or None if neither is."""
    versions = tuple(tracking.aliased_version(client, name, CHAMPION) for name in MODELS)
    return None if all(version is None for version in versions) else versions


def _flat_metrics(record: dict) -> dict[str, float]:
    flat = {}
    for name in MODELS:
        for role in ("challenger", "champion"):
            for metric, value in ((record[name].get(role) or {}).get("window") or {}).items():
                flat[f"{name}.{role}.{metric}"] = value
        for item in record[name]["evidence"]:
            flat |= {f"{name}.{item['comparison']}.{key}": item[key] for key in ("advantage", "low", "high")}
    return flat


def _write_record(record: dict) -> None:
    files.write_json(record, config.DECISION)
    files.write_text(decision_page(record), config.DECISION_PAGE)
    mlflow.log_dict(record, "decision.json")


def decision_page(record: dict) -> str:
    """The decision record in words (reports/retrain/decision.md), for whoever reads why the champion changed or not."""
    window = record["window"]
    lines = [
        f"# Retraining decision: {record['decision']}",
        "",
        f"Window: the customers at {window['cutoff']} ({window['customers']:,}, churn rate {window['churn_rate']:.1%}) "
        f"and what they did in the next {window['horizon_days']} days: the latest whose outcome is known.",
        "",
    ]
    for name in MODELS:
        judged_here = record[name]
        champion = judged_here.get("champion")
        metric = judged_here["metric"]
        held = "none" if champion is None else (
            f"version {champion['version']}, {metric} on the window {champion['window'][metric]:.4f} (as registered"
            + (f"; its training labels run to {champion['labels_end']}: it saw these outcomes, which flatters this figure)" if champion["saw_window"] else ")")
        )
        lines += [
            f"## {name}: {judged_here['decision']}",
            "",
            judged_here["reason"],
            "",
            f"- challenger: version {judged_here['challenger']['version']}, {judged_here['metric']} on the window "
            f"{judged_here['challenger']['window'][judged_here['metric']]:.4f} (its backtest model)",
            f"- champion: {held}",
        ]
        for item in judged_here["evidence"]:
            figure = ",.0f" if item["comparison"] == LIST_PROFIT_COMPARISON else ".4f"
            lines.append(f"- comparing {item['comparison']}: challenger ahead by {item['advantage']:+{figure}} (95% {item['low']:+{figure}} to {item['high']:+{figure}}); "
                         f"{'fair' if item['fair'] else 'counts only for the challenger'}: {item['what']}")
        if "procedures_not_compared" in judged_here:
            lines.append(f"- procedures not compared: {judged_here['procedures_not_compared']}")
        for guard in judged_here["guards"]:
            value = "unknown" if guard["value"] is None else f"{guard['value']:.4f}"
            lines.append(f"- guard {guard['name']}: {value} (limit {guard['limit']}) {'passed' if guard['passed'] else 'FAILED'}: {guard['meaning']}")
        lines.append("")
    after = record.get("champion_after")
    lines.append(f"Champion after: {'none (nothing scored)' if after is None else ', '.join(f'{name} version {version}' for name, version in after.items())}.")
    return "\n".join(lines) + "\n"


def retrain(params: config.Params, *, reproduce_first: bool = True) -> tuple[dict, int]:
    """Under the lock: reproduce (unless told not to), then promote. A failed step leaves its record."""
    with exclusive():
        try:
            if reproduce_first:
                reproduce()
            return promote(params)
        except StepFailed as exc:
            files.write_json({"decision": "failed", "step": exc.step, "error": str(exc), "champion_after": "unchanged"}, config.DECISION)
            raise
