"""The outcome backtest of the list itself: the list built at a past cutoff, through the code
`churn score` runs, set against what its customers did in the horizon after it.

Each figure of the list meets its outcome:
- `churn_probability`: the calibration error (ECE, ten bins of equal count), Brier score next
  to the Brier score of the observed rate itself, and the reliability curve;
- `predicted_spend`: predicted over actual total spend, and by decile of the prediction;
- `spend_if_retained`: predicted over actual total among the customers who stayed;
- `value_at_risk`: its total against the value the leavers had been expected to bring by
  staying (their `spend_if_retained`), the loss it forecasts;
- the campaign: the realised profit of the contacted customers (models/campaign.py
  `realised_profit`: who actually left), next to the top N by churn probability and N at random.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models import campaign
from models.campaign import CampaignSettings
from models.clv import spend
from models.metrics import calibration_error, decile_table, reliability_points


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def outcomes(customers: pd.DataFrame, evaluation: pd.DataFrame) -> pd.DataFrame:
    """The list's rows with what happened next: `churned` and `actual_spend` per customer."""
    truth = evaluation.assign(customer_id=evaluation["customer_id"].astype("string")).set_index("customer_id")
    truth = truth.loc[customers["customer_id"]]
    return customers.assign(churned=truth["churned"].to_numpy(dtype=bool), actual_spend=spend(truth))


def list_metrics(rows: pd.DataFrame, settings: CampaignSettings) -> dict:
    """The figures of the module docstring for one list (`outcomes`' rows)."""
    churned = rows["churned"].to_numpy(dtype=bool)
    p = rows["churn_probability"].to_numpy(dtype=float)
    stayed = ~churned
    base_rate = float(churned.mean())
    realised = campaign.realised_profit(churned, rows["spend_if_retained"].to_numpy(), settings)
    contacts = (rows["selected_for_campaign"] & ~rows["control_group"]).to_numpy(dtype=bool)
    count = int(contacts.sum())
    riskiest = campaign.ranking(p, rows["customer_id"])[:count]  # ties broken as the campaign's comparison breaks them
    return {
        "customers": int(len(rows)),
        "churn": {
            "observed_rate": base_rate,
            "mean_probability": float(p.mean()),
            "calibration_error": calibration_error(churned, p),
            "brier": float(np.mean((p - churned) ** 2)),
            "brier_of_the_observed_rate": base_rate * (1 - base_rate),
        },
        "spend": {
            "predicted": float(rows["predicted_spend"].sum()),
            "actual": float(rows["actual_spend"].sum()),
            "predicted_over_actual": _ratio(rows["predicted_spend"].sum(), rows["actual_spend"].sum()),
            "if_retained_predicted_over_actual": _ratio(rows.loc[stayed, "spend_if_retained"].sum(), rows.loc[stayed, "actual_spend"].sum()),
        },
        "value_at_risk": {
            "expected_loss": float(rows["value_at_risk"].sum()),
            "leavers_expected_value": float(rows.loc[churned, "spend_if_retained"].sum()),
            "expected_over_realised": _ratio(rows["value_at_risk"].sum(), rows.loc[churned, "spend_if_retained"].sum()),
            "stayers_brought": float(rows.loc[stayed, "actual_spend"].sum()),
        },
        "campaign": {
            "contacted": count,
            "expected_profit": float(rows.loc[contacts, "expected_profit"].sum()),
            "realised_profit": float(realised[contacts].sum()),
            "top_churn_probability_realised_profit": float(realised[riskiest].sum()),
            # N at random: in expectation N times the average customer's realised profit.
            "random_realised_profit": float(count * realised.mean()) if len(realised) else 0.0,
        },
    }


def curves(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The reliability curve of churn_probability, and predicted against actual spend by decile."""
    return {
        "reliability": reliability_points(rows["churned"].to_numpy(dtype=int), rows["churn_probability"].to_numpy()),
        "spend_deciles": decile_table(rows["actual_spend"].to_numpy(), rows["predicted_spend"].to_numpy()),
    }
