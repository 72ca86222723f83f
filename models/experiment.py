"""A randomized campaign read back: each arm against the control, per outcome, with its interval.

Customers were assigned to arms at random, so the difference in an outcome's mean between an
arm and the control estimates what the contact changed. Its 95% interval is the normal one with
Welch's standard error (each group's own variance). At campaign sizes of hundreds or more, this
is what a bootstrap gives too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

Z_95 = 1.959963984540054


def difference(treated: np.ndarray, control: np.ndarray) -> dict[str, float]:
    """Mean of `treated` less mean of `control`, with a 95% interval and each side's size and mean."""
    treated, control = np.asarray(treated, dtype=float), np.asarray(control, dtype=float)
    if len(treated) < 2 or len(control) < 2:
        raise ValueError("an arm and its control need at least two customers each")
    effect = treated.mean() - control.mean()
    error = np.sqrt(treated.var(ddof=1) / len(treated) + control.var(ddof=1) / len(control))
    return {
        "effect": float(effect), "low": float(effect - Z_95 * error), "high": float(effect + Z_95 * error),
        "treated_mean": float(treated.mean()), "control_mean": float(control.mean()),
        "treated": len(treated), "control": len(control),
    }


def arm_effects(customers: pd.DataFrame, arm: str, control: str, outcomes: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """{arm: {outcome: difference against the control}} for every arm but the control, arms in name order."""
    in_control = customers[arm] == control
    if not in_control.any():
        raise ValueError(f"no customer is in the control arm {control!r}")
    return {
        str(name): {outcome: difference(group[outcome].to_numpy(), customers.loc[in_control, outcome].to_numpy()) for outcome in outcomes}
        for name, group in sorted(customers[~in_control].groupby(arm), key=lambda item: str(item[0]))
    }


def incremental_profit(effect: dict[str, float], margin: float, contact_cost: float) -> dict[str, float]:
    """Per contacted customer: the effect on spend times the margin, less the contact's cost (with its interval)."""
    return {key: effect[key] * margin - contact_cost for key in ("effect", "low", "high")}


def list_read_back(listed: pd.DataFrame, outcomes: pd.DataFrame, margin: float, cost_per_contact: float) -> dict:
    """A published list's campaign read back: its contacted customers (selected, not in the control
    group) against its control group, in each outcome of the horizon after the list's as_of.

    `listed`: customer_id, selected_for_campaign, control_group. `outcomes`: customer_id and one
    column per outcome for the customers who did anything (absent: 0). The control was drawn at
    random among the selected, so the difference is what the contact changed. Realised incremental
    profit per contact: the difference in spend times the margin, less the whole cost of a contact
    (offer included, as if every contacted customer took it: a floor).
    """
    chosen = listed[listed["selected_for_campaign"].astype(bool)]
    joined = chosen[["customer_id", "control_group"]].merge(outcomes, on="customer_id", how="left").fillna(0)
    control = joined["control_group"].astype(bool).to_numpy()
    names = [column for column in outcomes.columns if column != "customer_id"]
    if control.sum() < 2 or (~control).sum() < 2:
        raise ValueError(f"the list holds {(~control).sum()} contacted and {control.sum()} control customers: two of each at least")
    effects = {name: difference(joined.loc[~control, name].to_numpy(), joined.loc[control, name].to_numpy()) for name in names}
    result = {"contacted": int((~control).sum()), "control": int(control.sum()), "effects": effects}
    if "spend" in effects:
        result["incremental_profit_per_contact"] = incremental_profit(effects["spend"], margin, cost_per_contact)
    return result
