"""Churn model against the classic baselines, on the shared real data sets, in one table.

    python -m benchmarks.churn                 # all three, 30 Optuna trials per fit
    python -m benchmarks.churn --trials 10 --only cdnow

- CDNOW, the Fader-Hardie-Lee protocol: everything before 1997-10-01 is known; churn = no
  purchase in the next 273 days (to 1998-06-30). A 273-day label needs 273 days of history
  after a cutoff, which CDNOW (first purchases in Q1 1997) cannot give before 1997-10-01, so the
  model learns from 90-day labels at earlier cutoffs and is judged on its ranking of the
  273-day outcome, as the baselines are.
- Online Retail: as_of 2011-09-01, 90-day horizon.
- churnsim (subscriptions with engagement events): the backtest of the pipeline with and
  without the engagement features, each fold and the paired difference with its 95% interval,
  and the in-period fit with and without them.

Each figure comes with its 95% interval, and the model's lead over each other method is a
paired difference on the same customers, both from customer resamples (models/uncertainty.py).

The in-period fit is a diagnostic, not a competitor and not a bound: LightGBM fitted on the
evaluation customers' own outcomes (5-fold cross-validation by customer, params.yaml's starting
parameters), which no forecast can see. It says how much these features tell about that outcome
when the outcome period itself is learnt from, on one cutoff's customers only; a forecast learnt
from many earlier cutoffs can score above it.

Every number comes from the pipeline's own code: ingest cleaning, Ibis features on DuckDB,
models.churn's tune-calibrate-refit procedure, models.baselines.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
from pathlib import Path

import optuna
import pandas as pd

from benchmarks.measure import ROOT
from features.snapshots import Sources, training_cutoffs, training_snapshots
from models import backtest, churn
from models.baselines import baseline_scores
from models.metrics import classification_metrics
from models.training import TrainingSettings, cross_validated_predictions
from models.tuning import new_study
from pipeline import config
from pipeline.interactive import holdout, sources_in_memory
from pipeline.train import settings as training_settings

WINDOWS = [30, 90, 180, 365]
IN_PERIOD = "in-period fit (diagnostic, 5-fold CV on these customers)"
REPLICATES = 400
ENGAGEMENT_PREFIXES = ("events_", "active_days_", "engagement_index", "days_since_last_event")


def load_sources(params_file: Path) -> Sources:
    """The clean tables of a params file's `data` section, in an in-memory DuckDB."""
    return sources_in_memory(config.load_data(params_file, ROOT / "params.yaml"))


def settings(trials: int, validation_cutoffs: int = 1) -> TrainingSettings:
    """params.yaml's `train` section, searching `trials` trials."""
    params = config.load_params(ROOT / "params.yaml")
    return dataclasses.replace(training_settings(params.train, params.churn.lightgbm), n_trials=trials, validation_cutoffs=validation_cutoffs)


def fit(labelled: pd.DataFrame, horizon_days: int, trials: int, validation_cutoffs: int = 1) -> churn.ChurnModel:
    """The pipeline's procedure, searching `trials` trials."""
    chosen = settings(trials, validation_cutoffs)
    calibration = config.load_params(ROOT / "params.yaml").churn.calibration
    model, _ = churn.fit_churn_model(labelled, horizon_days, chosen, new_study("benchmark", None, chosen.seed), calibration=calibration)
    return model


def judged_at(sources: Sources, as_of: dt.datetime, train_horizon: int, eval_horizon: int, cutoffs: int, spacing: int, trials: int) -> dict:
    """Train on labels that closed by `as_of`; score the snapshot at `as_of` on the next `eval_horizon` days."""
    known = holdout(sources, as_of, WINDOWS, train_horizon, cutoffs, spacing, eval_horizon)
    training, evaluation = known.training, known.evaluation
    scores = {"model": fit(training, train_horizon, trials).predict(evaluation)}
    scores |= baseline_scores(training, evaluation, eval_horizon)
    scores[IN_PERIOD] = cross_validated_predictions(evaluation, churn.churned, settings(trials), churn.OBJECTIVE)
    rows = pd.DataFrame({"customer_id": evaluation["customer_id"].to_numpy(), "cutoff": as_of, "churned": churn.churned(evaluation).astype(int)} | scores)
    return dict(zip(("overall", "model_advantage"), backtest.summary(rows, REPLICATES, seed=0), strict=True))


def ablation(sources: Sources, as_of: dt.datetime, horizon: int, cutoffs: int, spacing: int, folds: int, trials: int) -> dict:
    """Backtest ROC AUC per fold with and without the engagement features, on the same folds.

    Validation pools the latest 3 cutoffs, as configs/churnsim.yaml does: one cutoff holds ~30 churners.
    """
    con = sources.transactions._find_backend()
    training = con.to_pandas(training_snapshots(sources, training_cutoffs(as_of, horizon, cutoffs, spacing), WINDOWS, horizon))
    engagement = [column for column in training.columns if column.startswith(ENGAGEMENT_PREFIXES)]
    result = {}
    for name, frame in (("with engagement", training), ("without engagement", training.drop(columns=engagement))):
        scores = pd.concat(
            [
                backtest.fold_scores(fold, fit(fold.labelled, horizon, trials, validation_cutoffs=3), horizon)
                for fold in backtest.folds(frame, horizon, folds, validation_cutoffs=3)
            ]
        )
        result[name] = scores.rename(columns={"model": name})[["customer_id", "cutoff", "churned", name]]
        in_period = cross_validated_predictions(frame, churn.churned, settings(trials), churn.OBJECTIVE)
        result[f"{name}, in-period fit"] = classification_metrics(churn.churned(frame), in_period)["roc_auc"]
    both = result["with engagement"].merge(result["without engagement"], on=["customer_id", "cutoff", "churned"])
    compared = both.rename(columns={"with engagement": backtest.CHALLENGER, "without engagement": backtest.CHAMPION})
    per_fold = backtest.fold_metrics(both)
    return {
        "folds": {cutoff: {name: metrics[name]["roc_auc"] for name in ("with engagement", "without engagement")} for cutoff, metrics in per_fold.items()},
        "difference": backtest.paired_advantage(compared, "roc_auc", REPLICATES, seed=0),
        "engagement features": len(engagement),
    } | {key: value for key, value in result.items() if key.endswith("in-period fit")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30, help="Optuna trials per fit")
    parser.add_argument("--only", nargs="*", choices=["cdnow", "retail", "churnsim"], default=["cdnow", "retail", "churnsim"])
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    rows = []
    if "cdnow" in args.only:
        sources = load_sources(ROOT / "configs" / "cdnow.yaml")
        rows.append(("CDNOW (FHL, 273 days)", judged_at(sources, dt.datetime(1997, 10, 1), 90, 273, cutoffs=10, spacing=15, trials=args.trials)))
    if "retail" in args.only:
        sources = load_sources(ROOT / "params.yaml")
        rows.append(("Online Retail (2011-09-01, 90 days)", judged_at(sources, dt.datetime(2011, 9, 1), 90, 90, cutoffs=6, spacing=30, trials=args.trials)))

    if rows:
        print("| data | method | ROC AUC (95% interval) | model ahead by (95% interval) | PR AUC | top-decile lift |")
        print("|---|---|---|---|---|---|")
    for data, result in rows:
        for method, metrics in result["overall"].items():
            auc, ahead = metrics["roc_auc"], result["model_advantage"].get(method, {}).get("roc_auc")
            lead = "-" if ahead is None else f"{ahead['advantage']:+.3f} ({ahead['low']:+.3f} to {ahead['high']:+.3f})"
            print(f"| {data} | {method} | {auc['mean']:.3f} ({auc['low']:.3f}-{auc['high']:.3f}) | {lead} | "
                  f"{metrics['pr_auc']['mean']:.3f} | {metrics['top_decile_lift']['mean']:.2f} |")

    if "churnsim" in args.only:
        sources = load_sources(ROOT / "configs" / "churnsim.yaml")
        result = ablation(sources, dt.datetime(2021, 1, 1), 60, cutoffs=20, spacing=10, folds=6, trials=args.trials)
        print("\n| churnsim backtest, 60 days, fold | ROC AUC with engagement | without |")
        print("|---|---|---|")
        for cutoff, figures in result["folds"].items():
            print(f"| {cutoff} | {figures['with engagement']:.3f} | {figures['without engagement']:.3f} |")
        difference = result["difference"]
        print(f"difference, mean over folds, paired: {difference['advantage']:+.3f} (95% {difference['low']:+.3f} to {difference['high']:+.3f}); "
              f"{result['engagement features']} engagement features")
        for name in ("with engagement", "without engagement"):
            print(f"in-period fit {name} (a diagnostic: every cutoff's subscribers, 5 folds by customer): ROC AUC {result[name + ', in-period fit']:.3f}")


if __name__ == "__main__":
    main()
