"""The scored customer list: every current customer with their risk, value, segment, action and reasons.

The columns are documented for the marketing team in docs/scored_customers.md, the quantities
in docs/definitions.md. Value at risk and the campaign's profit are on the horizon's basis:

    value_at_risk = churn_probability x spend_if_retained

the chance that the customer leaves within the horizon times what they spend in it if they stay
(the value model's second booster): what the business expects to lose to churn over the horizon
if it does nothing. Finite for every probability, and checked against what happened by the
outcome backtest (models/outcomes.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models import campaign, reasons, segments
from models.campaign import CampaignSettings
from models.churn import ChurnModel
from models.clv import ClvModel, ValueSettings, customer_value
from models.segments import SegmentRule

BANDS = ("low", "medium", "high")


@dataclass(frozen=True)
class PlaybookRule:
    action: str
    segments: tuple[str, ...] | None = None
    risk: tuple[str, ...] | None = None
    value: tuple[str, ...] | None = None
    profitable: bool | None = None

    def matches(self, customers: pd.DataFrame) -> pd.Series:
        hit = pd.Series(True, index=customers.index)
        for column, allowed in (("rfm_segment", self.segments), ("churn_risk_band", self.risk), ("value_band", self.value)):
            if allowed is not None:
                hit &= customers[column].isin(allowed)
        if self.profitable is not None:
            hit &= (customers["expected_profit"] > 0) == self.profitable
        return hit


@dataclass(frozen=True)
class ListSettings:
    risk_bands: tuple[float, float]  # lower edges of medium and high churn probability
    value_bands: tuple[float, float]  # predicted_clv quantiles from which medium and high
    segment_rules: Sequence[SegmentRule]
    playbook: Sequence[PlaybookRule]
    value: ValueSettings
    campaign: CampaignSettings


def band(values: pd.Series, edges: tuple[float, float]) -> pd.Series:
    """low below the first edge, medium from it, high from the second."""
    return pd.Series(np.array(BANDS)[np.searchsorted(edges, values.to_numpy(dtype=float), side="right")], index=values.index)


def recommended_actions(customers: pd.DataFrame, playbook: Sequence[PlaybookRule]) -> pd.Series:
    actions = pd.Series(pd.NA, index=customers.index, dtype=object)
    for rule in playbook:
        actions[actions.isna() & rule.matches(customers)] = rule.action
    return actions.fillna("")


def score_customers(
    scoring: pd.DataFrame, churn_model: ChurnModel, clv_model: ClvModel, settings: ListSettings, uplift: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict]:
    """The list, most profitable contact first, and the campaign's expected profit next to simpler selections.

    With `uplift` (customer_id, best_arm, incremental_profit: what a past campaign's results
    predict), the campaign is chosen by incremental profit instead of the expected profit of
    saving a leaver; customers it does not score are not chosen.
    """
    ids = scoring["customer_id"].astype("string")
    churn_probability = pd.Series(churn_model.predict(scoring), index=scoring.index)
    value = customer_value(scoring, clv_model, settings.value)
    spend_if_retained = value["spend_if_retained"]
    profit = pd.Series(campaign.expected_profit(churn_probability, spend_if_retained, settings.campaign), index=scoring.index)
    rfm = segments.rfm_scores(scoring)
    as_of = pd.to_datetime(scoring["cutoff"])

    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "as_of": as_of.dt.strftime("%Y-%m-%d"),
            "churn_probability": churn_probability.round(4),
            "churn_risk_band": band(churn_probability, settings.risk_bands),
            "predicted_clv": value["lifetime_value"].round(2),
            "value_band": band(value["lifetime_value"], tuple(np.quantile(value["lifetime_value"], settings.value_bands))),
            "value_at_risk": (churn_probability * spend_if_retained).round(2),
            "expected_profit": profit.round(2),
            "rfm_segment": segments.segments(rfm, settings.segment_rules),
            **rfm[["r_score", "f_score", "m_score"]],
            "top_reasons": reasons.explain(scoring, churn_model),
            "expected_purchases": value["expected_purchases"].round(3),
            "probability_of_purchase": value["probability_of_purchase"].round(4),
            "expected_next_purchase_date": (as_of + pd.to_timedelta(value["days_to_next_purchase"].round(), unit="D")).dt.strftime("%Y-%m-%d"),
            "predicted_spend": value["predicted_spend"].round(2),
            "spend_if_retained": spend_if_retained.round(2),
            "recency_days": scoring["recency_days"].round(1),
            "orders": scoring["orders"].astype("Int64"),  # null for a subscriber with no purchase yet
            "net_spend": scoring["net_spend"].round(2),
        }
    )
    learnt = (uplift if uplift is not None else pd.DataFrame(columns=["customer_id", "best_arm", "incremental_profit"])).set_index("customer_id")
    customers.insert(customers.columns.get_loc("expected_profit") + 1, "best_arm", ids.map(learnt["best_arm"]).astype("string").to_numpy())
    incremental = pd.to_numeric(ids.map(learnt["incremental_profit"]), errors="coerce").astype("float64").to_numpy()
    customers.insert(customers.columns.get_loc("best_arm") + 1, "incremental_profit", np.round(incremental, 2))
    ranked_by = "incremental_profit" if uplift is not None else "expected_profit"
    customers["recommended_action"] = recommended_actions(customers, settings.playbook)
    # Chosen by the unrounded figures; the columns are rounded for people.
    selected, control = campaign.select(incremental if uplift is not None else profit.to_numpy(), ids, settings.campaign)
    customers["selected_for_campaign"] = selected
    customers["control_group"] = control
    contacts = campaign.contacted(selected, control)
    summary = campaign.comparison(churn_probability.to_numpy(), spend_if_retained.to_numpy(), ids, contacts, settings.campaign)
    if uplift is not None:
        summary["selected"]["incremental_profit"] = float(np.nansum(incremental[contacts]))

    # Most profitable contact first; the customer id breaks ties so that reruns give the same file.
    customers = customers.sort_values([ranked_by, "customer_id"], ascending=[False, True], na_position="last", kind="stable").reset_index(drop=True)
    customers.insert(2, "priority_rank", np.arange(1, len(customers) + 1))
    leading = ["customer_id", "as_of", "priority_rank", "selected_for_campaign", "control_group", "recommended_action"]
    return customers[leading + [column for column in customers.columns if column not in leading]], summary


def win_back_list(lapsed: pd.DataFrame, as_of: str, active_days: int) -> pd.DataFrame:
    """The customers who bought before `as_of` but not in the `active_days` before it: the most
    they spent first, for a win-back campaign (docs/scored_customers.md)."""
    recency = lapsed["recency_days"].astype(float)
    listed = pd.DataFrame(
        {
            "customer_id": lapsed["customer_id"].astype("string"),
            "as_of": as_of,
            "last_purchase_date": (pd.Timestamp(as_of) - pd.to_timedelta(recency.round(), unit="D")).dt.strftime("%Y-%m-%d"),
            "recency_days": recency.round(1),
            "orders": lapsed["orders"].astype("Int64"),
            "net_spend": lapsed["net_spend"].round(2),
            "recommended_action": f"Win-back: no purchase in the last {active_days} days",
        }
    )
    return listed.sort_values(["net_spend", "customer_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
