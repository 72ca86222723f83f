"""The spend model against BTYD baselines, on the shared real data sets, in one table.

    python -m benchmarks.clv                  # both, 30 Optuna trials per fit
    python -m benchmarks.clv --trials 10 --only cdnow

- CDNOW, the Fader-Hardie-Lee protocol: everything before 1997-10-01 is known; predict each
  customer's spend in the next 39 weeks (273 days, to 1998-06-30). As in benchmarks/churn.py,
  the model learns 90-day spend at earlier cutoffs (a 273-day label would end after 1997-10-01);
  its 90-day prediction is carried to 273 days by BG/NBD's per-customer ratio of expected
  purchases, as the pipeline carries it to `clv.lifetime_months`.
- Online Retail: as_of 2011-09-01, 90 days.

Each data set: the model without and with the BTYD outputs as features, BG/NBD x Gamma-Gamma and
Pareto/NBD x Gamma-Gamma (lifetimes), all from the pipeline's own code and on the same customers.
The in-period fit is LightGBM (Tweedie) fitted on the evaluation customers' own horizon spend by
5-fold cross-validation: a diagnostic of how much the features say about that spend when the
outcome period itself is learnt from, not a forecast and not a bound (benchmarks/churn.py).
Each Gini comes with its 95% interval and the model's paired lead over each method, from
customer resamples (models/uncertainty.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import time
from pathlib import Path

import optuna
import pandas as pd

from benchmarks.measure import ROOT
from models import backtest, clv
from models.btyd import Btyd
from models.training import cross_validated_predictions
from models.tuning import new_study
from pipeline import config
from pipeline.interactive import holdout, sources_in_memory
from pipeline.train import settings as training_settings

WINDOWS = [30, 90, 180, 365]
IN_PERIOD = "in-period fit (diagnostic, 5-fold CV on these customers)"
REPLICATES = 400


def judged_at(params_file: Path, as_of: dt.datetime, train_horizon: int, eval_horizon: int, cutoffs: int, spacing: int, trials: int) -> dict:
    data = config.load_data(params_file, ROOT / "params.yaml")
    sources = sources_in_memory(data)
    known = holdout(sources, as_of, WINDOWS, train_horizon, cutoffs, spacing, eval_horizon)
    training, evaluation = known.training, known.evaluation
    actual = clv.spend(evaluation)

    params = config.load_params(ROOT / "params.yaml")
    settings = dataclasses.replace(training_settings(params.train, params.clv.lightgbm), n_trials=trials)
    predictions, seconds = {}, {}
    for name, btyd_features in (("model", False), ("model + BTYD features", True)):
        started = time.perf_counter()
        model, _ = clv.fit_clv_model(training, train_horizon, settings, new_study("benchmark", None, settings.seed), btyd_features=btyd_features)
        btyd = Btyd.fit(evaluation, spend=False)
        carried = clv.extension(btyd.expected_purchases(evaluation, train_horizon), btyd.expected_purchases(evaluation, eval_horizon), train_horizon, eval_horizon)
        predictions[name] = model.predict(evaluation) * carried
        seconds[name] = time.perf_counter() - started
    started = time.perf_counter()
    predictions[IN_PERIOD] = cross_validated_predictions(evaluation, clv.spend, settings, clv.OBJECTIVE)
    seconds[IN_PERIOD] = time.perf_counter() - started
    for name, purchase_model in (("BG/NBD x Gamma-Gamma", "bgnbd"), ("Pareto/NBD x Gamma-Gamma", "pareto_nbd")):
        started = time.perf_counter()
        predictions[name] = Btyd.fit(evaluation, purchase_model).expected_spend(evaluation, eval_horizon)
        seconds[name] = time.perf_counter() - started
    rows = pd.DataFrame({"customer_id": evaluation["customer_id"].to_numpy(), "cutoff": as_of, backtest.ACTUAL_SPEND: actual} | predictions)
    overall, paired = backtest.summary(rows, REPLICATES, seed=0)
    return {name: {"metrics": figures, "model_advantage": paired.get(name), "seconds": seconds[name]} for name, figures in overall.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30, help="Optuna trials per fit")
    parser.add_argument("--only", nargs="*", choices=["cdnow", "retail"], default=["cdnow", "retail"])
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    rows = []
    if "cdnow" in args.only:
        result = judged_at(ROOT / "configs" / "cdnow.yaml", dt.datetime(1997, 10, 1), 90, 273, cutoffs=10, spacing=15, trials=args.trials)
        rows += [("CDNOW (FHL, 39 weeks)", method, metrics) for method, metrics in result.items()]
    if "retail" in args.only:
        result = judged_at(ROOT / "params.yaml", dt.datetime(2011, 9, 1), 90, 90, cutoffs=6, spacing=30, trials=args.trials)
        rows += [("Online Retail (2011-09-01, 90 days)", method, metrics) for method, metrics in result.items()]

    print("| data | method | normalised Gini (95% interval) | model ahead by (95% interval) | top-10% share (perfect) | Spearman | MAE | total predicted / actual | fit + predict |")
    print("|---|---|---|---|---|---|---|---|---|")
    for data, method, result in rows:
        m = {name: figures["mean"] for name, figures in result["metrics"].items()}
        gini, ahead = result["metrics"]["normalised_gini"], (result["model_advantage"] or {}).get("normalised_gini")
        lead = "-" if ahead is None else f"{ahead['advantage']:+.3f} ({ahead['low']:+.3f} to {ahead['high']:+.3f})"
        print(f"| {data} | {method} | {gini['mean']:.3f} ({gini['low']:.3f}-{gini['high']:.3f}) | {lead} | "
              f"{m['top_decile_share']:.3f} ({m['top_decile_share_perfect']:.3f}) | {m['spearman']:.3f} | {m['mae']:.2f} | {m['total_ratio']:.2f} | {result['seconds']:.1f} s |")


if __name__ == "__main__":
    main()
