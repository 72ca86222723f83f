"""Whom to contact: expected retention profit per customer, a budget, and a control group.

The profit of contacting a customer follows the expected maximum profit (EMP) measure of
Verbraken, Verbeke & Baesens (2013): a contacted customer who would leave accepts the offer and
stays with probability gamma, drawn from Beta(alpha, beta), and is then worth their value less
the offer; one who would stay anyway takes the offer too; every contact costs the contact:

    profit = p x gamma x (margin x value_if_retained - offer) - (1 - p) x offer - contact

Profit is linear in gamma, so its expectation uses the mean of gamma, and the campaign's
profit at gamma's 5% and 95% quantiles is its range. Each contact is charged contact + offer
against the budget (the most it can cost), so a campaign never overspends. The control group
is not contacted: it takes no budget, and its profit is not the campaign's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class CampaignSettings:
    budget: float
    contact_cost: float
    offer_cost: float
    margin: float
    acceptance_alpha: float = 6.0
    acceptance_beta: float = 14.0
    control_share: float = 0.10
    seed: int = 42

    @property
    def cost_per_contact(self) -> float:
        return self.contact_cost + self.offer_cost

    @property
    def contacts(self) -> int:
        """How many customers the budget can reach."""
        return int(self.budget // self.cost_per_contact) if self.cost_per_contact > 0 else 0

    def acceptance(self, quantile: float | None = None) -> float:
        """gamma's mean, or its quantile."""
        if quantile is None:
            return self.acceptance_alpha / (self.acceptance_alpha + self.acceptance_beta)
        return float(stats.beta.ppf(quantile, self.acceptance_alpha, self.acceptance_beta))


def expected_profit(churn_probability: np.ndarray, value_if_retained: np.ndarray, settings: CampaignSettings, acceptance: float | None = None) -> np.ndarray:
    p = np.asarray(churn_probability, dtype=float)
    gamma = settings.acceptance() if acceptance is None else acceptance
    return p * gamma * (settings.margin * np.asarray(value_if_retained, dtype=float) - settings.offer_cost) - (1 - p) * settings.offer_cost - settings.contact_cost


def realised_profit(churned: np.ndarray, value_if_retained: np.ndarray, settings: CampaignSettings) -> np.ndarray:
    """What contacting each customer earned, once it is known who left: the profit formula with the
    outcome in place of the probability. A saved leaver is worth the value they were expected to
    bring by staying (what they would have spent is never seen), a stayer cost the offer."""
    return expected_profit(np.asarray(churned, dtype=float), value_if_retained, settings)


def ranking(scores: np.ndarray, customer_ids: pd.Series) -> np.ndarray:
    """Positions from the highest score down; the customer id breaks ties, so reruns agree."""
    return np.lexsort((customer_ids.astype(str).to_numpy(), -np.asarray(scores, dtype=float)))


def held_out(customer_ids: pd.Series, settings: CampaignSettings) -> np.ndarray:
    """Per customer, whether they fall in the control share: drawn from a hash of the seed and the
    id, so the same customer is in or out on every rerun, whoever else is scored."""
    draws = np.array([int.from_bytes(hashlib.sha256(f"{settings.seed}:{customer}".encode()).digest()[:8], "big") / 2**64 for customer in customer_ids.astype(str)])
    return draws < settings.control_share


def select(profit: np.ndarray, customer_ids: pd.Series, settings: CampaignSettings) -> tuple[np.ndarray, np.ndarray]:
    """(selected, control): down the ranking by profit, the customers whose contact pays, as far as
    the budget's contacts reach; a seeded share of them is the control group, held out to measure
    the campaign afterwards. The control costs nothing, so the budget pays for the contacted only.
    """
    profit = np.asarray(profit, dtype=float)
    ranked = ranking(profit, customer_ids)
    ranked = ranked[profit[ranked] > 0]
    control_draw = held_out(customer_ids.iloc[ranked], settings)
    contacted = np.flatnonzero(~control_draw)
    # Up to and including the last customer the budget contacts.
    if settings.contacts == 0:
        reach = 0
    else:
        reach = contacted[settings.contacts - 1] + 1 if len(contacted) >= settings.contacts else len(ranked)
    selected, control = np.zeros(len(profit), dtype=bool), np.zeros(len(profit), dtype=bool)
    selected[ranked[:reach]] = True
    control[ranked[:reach][control_draw[:reach]]] = True
    return selected, control


def contacted(selected: np.ndarray, control: np.ndarray) -> np.ndarray:
    return np.asarray(selected) & ~np.asarray(control)


def comparison(churn_probability: np.ndarray, value_if_retained: np.ndarray, customer_ids: pd.Series, contacts: np.ndarray, settings: CampaignSettings) -> dict[str, dict[str, float]]:
    """Expected profit (and its 5%-95% range over gamma) of the contacted customers (the control
    group left out), of the top N by churn probability and of N customers drawn at random, N
    being the number contacted."""
    profits = {
        "expected_profit": expected_profit(churn_probability, value_if_retained, settings),
        "profit_low": expected_profit(churn_probability, value_if_retained, settings, settings.acceptance(0.05)),
        "profit_high": expected_profit(churn_probability, value_if_retained, settings, settings.acceptance(0.95)),
    }
    count = int(np.asarray(contacts).sum())
    lists = {"selected": np.flatnonzero(contacts), "top_churn_probability": ranking(churn_probability, customer_ids)[:count]}
    result = {name: {"customers": float(len(rows))} | {key: float(profit[rows].sum()) for key, profit in profits.items()} for name, rows in lists.items()}
    # N customers at random: in expectation N times the average customer's profit.
    result["random"] = {"customers": float(count)} | {key: float(count * profit.mean()) if len(profit) else 0.0 for key, profit in profits.items()}
    return result
