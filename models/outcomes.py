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
from models.uncertainty import bootstrap, interval


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
    contacts = contacted(rows)
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


def flat_figures(figures: dict, prefix: str = "") -> dict[str, float]:
    """{"section.name": value} for every number of `list_metrics`' answer."""
    flat = {}
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flat_figures(value, f"{name}.")
        elif value is not None:
            flat[name] = float(value)
    return flat


def intervals(rows: pd.DataFrame, settings: CampaignSettings, replicates: int, seed: int) -> dict[str, dict[str, float]]:
    """A 95% interval for each figure of `list_metrics`, and for the list's realised lead over the
    top N by churn probability and over N at random, from customer resamples (the list held fixed:
    the interval is that of what its customers happened to do)."""

    def statistic(frame: pd.DataFrame) -> dict[str, float]:
        flat = flat_figures(list_metrics(frame, settings))
        realised = flat["campaign.realised_profit"]
        return flat | {
            "campaign.lead_over_top_churn_probability": realised - flat["campaign.top_churn_probability_realised_profit"],
            "campaign.lead_over_random": realised - flat["campaign.random_realised_profit"],
        }

    estimate, draws = bootstrap(rows, statistic, replicates, seed)
    return {name: dict(zip(("estimate", "low", "high"), (value, *interval(draws[name])), strict=True)) for name, value in estimate.items()}


def contacted(rows: pd.DataFrame) -> np.ndarray:
    return (rows["selected_for_campaign"] & ~rows["control_group"]).to_numpy(dtype=bool)


def paired_realised_profit(first: pd.DataFrame, second: pd.DataFrame, settings: CampaignSettings, replicates: int, seed: int) -> dict[str, float]:
    """The realised profit of the first list's contacts minus the second's (`outcomes`' rows, the same
    customers), with its 95% interval from customer resamples.

    A saved leaver is worth what the lists expected them to bring by staying; both contacts are
    valued at the mean of the two lists' `spend_if_retained`, so neither list is judged by its own
    yardstick."""
    second = second.set_index("customer_id").loc[first["customer_id"]].reset_index()
    value = (first["spend_if_retained"].to_numpy() + second["spend_if_retained"].to_numpy()) / 2
    realised = campaign.realised_profit(first["churned"].to_numpy(dtype=bool), value, settings)
    rows = pd.DataFrame({"customer_id": first["customer_id"].to_numpy(), "first": realised * contacted(first), "second": realised * contacted(second)})
    estimate, draws = bootstrap(rows, lambda frame: {"first": frame["first"].sum(), "second": frame["second"].sum()}, replicates, seed)
    low, high = interval(draws["first"] - draws["second"])
    return {"advantage": estimate["first"] - estimate["second"], "low": low, "high": high, "first": estimate["first"], "second": estimate["second"]}


def curves(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The reliability curve of churn_probability, and predicted against actual spend by decile."""
    return {
        "reliability": reliability_points(rows["churned"].to_numpy(dtype=int), rows["churn_probability"].to_numpy()),
        "spend_deciles": decile_table(rows["actual_spend"].to_numpy(), rows["predicted_spend"].to_numpy()),
    }
