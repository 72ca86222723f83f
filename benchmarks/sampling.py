"""What learning from a sample of the training rows costs (train.rows_per_cutoff): each model's backtest, sampled against full.

    python -m benchmarks.sampling PROJECT --rows 100000 30000          # PROJECT: a checkout that ran `dvc repro features`
    python -m benchmarks.sampling /tmp/clone --rows 1000 500 --seeds 42 7 11 --trials 1

Reads the training snapshots PROJECT's `features` stage wrote (any data set: point a clone's params
at it and run `dvc repro features`) and its params.yaml. For every row, then for each `--rows` and
seed: the train stage's backtest folds, at each the churn and the value model fitted as the stage
fits them on the rows pipeline/training_rows.py reads, judged on every customer at the fold's
cutoff. Prints per setting the rows learnt from, the fit seconds, the churn model's ROC AUC and
Gini and the value model's normalised Gini (means over the folds), and each one's difference from
the fit on every row. The search runs `--trials` trials (the same for every setting): what is
measured is the sample, not the search. Several seeds show the noise of the draw.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import optuna
import pandas as pd

from models import churn, clv
from models.metrics import classification_metrics, value_metrics
from models.tuning import new_study
from pipeline import config, training_rows
from pipeline.train import settings as training_settings


def judged(path: Path, params: config.Params, rows: int | None, seed: int, trials: int, fold_count: int) -> dict[str, float]:
    """The backtest of both models learning from `training_rows.read(path, rows, seed)`: means over the folds."""
    horizon = params.score.horizon_days
    training = training_rows.read(path, rows, seed)
    folds = training_rows.backtest_folds(path, training, horizon, fold_count)
    search = {name: dataclasses.replace(training_settings(params.train, section.lightgbm), n_trials=trials)
              for name, section in (("churn", params.churn), ("clv", params.clv))}
    figures = {"rows": [], "churn_seconds": [], "clv_seconds": [], "roc_auc": [], "normalised_gini": []}
    for fold in folds:
        started = time.perf_counter()
        churn_model, _ = churn.fit_churn_model(fold.labelled, horizon, search["churn"], new_study("churn", None, seed), calibration=params.churn.calibration)
        figures["churn_seconds"].append(time.perf_counter() - started)
        started = time.perf_counter()
        clv_model, _ = clv.fit_clv_model(fold.labelled, horizon, search["clv"], new_study("clv", None, seed), btyd_features=params.clv.btyd_features)
        figures["clv_seconds"].append(time.perf_counter() - started)
        figures["rows"].append(len(fold.labelled))
        figures["roc_auc"].append(classification_metrics(churn.churned(fold.evaluation), churn_model.predict(fold.evaluation))["roc_auc"])
        figures["normalised_gini"].append(value_metrics(clv.spend(fold.evaluation), clv_model.predict(fold.evaluation))["normalised_gini"])
    return {name: float(pd.Series(values).mean()) for name, values in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project", type=Path, help="a checkout whose `dvc repro features` has run")
    parser.add_argument("--rows", type=int, nargs="+", required=True, help="train.rows_per_cutoff values to try")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42], help="the sample's seeds")
    parser.add_argument("--trials", type=int, default=1, help="Optuna trials per fit (1: params.yaml's starting point)")
    parser.add_argument("--folds", type=int, help="backtest folds (default: the project's train.backtest_folds)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    params = config.load_params(args.project / "params.yaml")
    folds = args.folds or params.train.backtest_folds
    path = args.project / config.TRAINING_SNAPSHOTS
    per_cutoff = pd.read_parquet(path, columns=["cutoff"]).value_counts()
    print(f"{path}: {int(per_cutoff.sum()):,} rows, {len(per_cutoff)} cutoffs, {int(per_cutoff.min()):,}-{int(per_cutoff.max()):,} per cutoff; "
          f"{args.trials} trial(s) per fit, {folds} fold(s)\n")
    print("| rows per cutoff | seed | rows learnt from (mean per fold) | churn fit s | value fit s | churn ROC AUC | Gini | difference | "
          "value normalised Gini | difference |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    full = None
    for rows, seed in [(None, args.seeds[0])] + [(rows, seed) for rows in args.rows for seed in args.seeds]:
        found = judged(path, params, rows, seed, args.trials, folds)
        full = full or found
        auc, gini = found["roc_auc"], found["normalised_gini"]
        print(f"| {'all' if rows is None else f'{rows:,}'} | {seed if rows else '-'} | {found['rows']:,.0f} | {found['churn_seconds']:.1f} | "
              f"{found['clv_seconds']:.1f} | {auc:.4f} | {2 * auc - 1:.4f} | {auc - full['roc_auc']:+.4f} | {gini:.4f} | "
              f"{gini - full['normalised_gini']:+.4f} |", flush=True)


if __name__ == "__main__":
    main()
