"""Stage `kpis`: retention KPIs per period and cohort retention, from the clean tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.kpis import cohort_retention, kpis_by_period, purchase_tables
from pipeline import config, files
from pipeline.featurize import connect, resolve_as_of

PLOTTED = ("retention_rate", "churn_rate", "repeat_purchase_rate", "average_order_value", "simple_clv")


def _optional(path: Path) -> pd.DataFrame | None:
    table = pd.read_parquet(path)
    return table if len(table) else None


def run(params: config.Params) -> dict:
    con = connect(params.features)
    transactions = con.read_parquet(config.CLEAN_TRANSACTIONS)
    until = resolve_as_of(params.score, transactions.timestamp.max().to_pandas().to_pydatetime())
    purchases, products = purchase_tables(transactions, until, params.kpis.period)
    purchases, products = con.to_pandas(purchases.order_by(["customer_id", "order_id"])), con.to_pandas(products)
    kpis = kpis_by_period(
        purchases,
        until,
        products=products,
        period=params.kpis.period,
        active_days=params.features.active_days,
        subscriptions=_optional(config.CLEAN_SUBSCRIPTIONS),
        surveys=_optional(config.CLEAN_SURVEYS),
        events=_optional(config.CLEAN_EVENTS),
    )
    cohorts = cohort_retention(purchases, until, params.kpis.period)
    latest = kpis.iloc[-1].to_dict() if len(kpis) else {}
    metrics = {"periods": len(kpis), "latest": {key: (None if pd.isna(value) else value) for key, value in latest.items()}}
    with files.publishing("kpis") as publication:
        files.write_csv(kpis, publication.staged(config.KPIS), float_format="%.6g")
        files.write_csv(cohorts.reset_index(), publication.staged(config.COHORT_RETENTION), float_format="%.4g")
        for name in PLOTTED:
            files.write_csv(kpis[["period", name]], publication.staged(config.KPI_PLOTS / f"{name}.csv"), float_format="%.6g")
        files.write_json(metrics, publication.staged(config.KPI_METRICS))
    return metrics
