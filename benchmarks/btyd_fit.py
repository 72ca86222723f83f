"""What fitting the BTYD models on a sample of customers costs (models/btyd.py::FIT_CUSTOMERS).

    python -m benchmarks.btyd_fit PROJECT                  # PROJECT: a checkout that ran `dvc repro features`
    python -m benchmarks.btyd_fit PROJECT --customers 50000 20000

At the latest training cutoff of PROJECT's snapshots (every customer there, with what they did in the
next `score.horizon_days`): BG/NBD and Pareto/NBD (each with Gamma-Gamma) fitted on every customer
and on samples, each then reading every customer. Prints the fit seconds, the parameters, and the
baselines' quality as the backtest measures it: the churn ROC AUC of fewer expected purchases and
the normalised Gini of expected spend against the spend that followed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from models import btyd, churn, clv
from models.metrics import classification_metrics, value_metrics
from pipeline import config, training_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project", type=Path, help="a checkout whose `dvc repro features` has run")
    parser.add_argument("--customers", type=int, nargs="+", default=[btyd.FIT_CUSTOMERS], help="sample sizes to try")
    args = parser.parse_args()

    params = config.load_params(args.project / "params.yaml")
    path = args.project / config.TRAINING_SNAPSHOTS
    latest = training_rows.at_cutoff(path, pd.read_parquet(path, columns=["cutoff"])["cutoff"].max())
    horizon = params.score.horizon_days
    print(f"{path}: {len(latest):,} customers at {latest['cutoff'].iloc[0]:%Y-%m-%d}, {horizon}-day outcomes\n")
    print("| model | fitted on | fit s | purchase parameters | churn ROC AUC | value normalised Gini |")
    print("|---|---|---|---|---|---|")
    for model in ("bgnbd", "pareto_nbd"):
        for customers in [len(latest), *args.customers]:
            started = time.perf_counter()
            fitted = btyd.Btyd.fit(latest, model, customers=customers)
            seconds = time.perf_counter() - started
            auc = classification_metrics(churn.churned(latest), -fitted.expected_purchases(latest, horizon), scores_are_probabilities=False)["roc_auc"]
            gini = value_metrics(clv.spend(latest), fitted.expected_spend(latest, horizon))["normalised_gini"]
            shown = ", ".join(f"{name} {value:.4g}" for name, value in fitted.purchases.params_.items())
            print(f"| {model} | {customers:,} | {seconds:.1f} | {shown} | {auc:.4f} | {gini:.4f} |", flush=True)


if __name__ == "__main__":
    main()
