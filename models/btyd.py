"""Buy-till-you-die models (lifetimes): BG/NBD or Pareto/NBD for purchases, Gamma-Gamma for spend.

Fitted on one snapshot's customers, from their history before its cutoff, and read back for
the same or other customers:
- expected purchases in the next t days, and the probability of at least one;
- the median number of days to the next purchase;
- expected spend per purchase (Gamma-Gamma), and so expected spend (CLV) in the next t days;
- discounted expected purchases over months, which extends a horizon's value to a lifetime.

Purchases are counted as lifetimes counts them: purchase days, the first one excluded.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from lifetimes.utils import ConvergenceError

from models.errors import InsufficientData

DAYS_PER_WEEK = 7.0
DAYS_PER_MONTH = 365.25 / 12
PENALIZERS = (0.0, 0.001, 0.01, 0.1)
PurchaseModel = Literal["bgnbd", "pareto_nbd"]
FITTERS = {"bgnbd": BetaGeoFitter, "pareto_nbd": ParetoNBDFitter}
# Customers a model is fitted on at most: Pareto/NBD took 271 s on the 263,216 customers of a
# generated 10 M-line log, once per backtest fold (benchmarks/btyd_fit.py measures the sample's cost).
FIT_CUSTOMERS = 50_000


def _whole_days(days_before_cutoff: pd.Series) -> np.ndarray:
    """Fractional days before the cutoff -> whole days before the last day that precedes it."""
    return np.ceil(days_before_cutoff.to_numpy(dtype=float) - 1e-9) - 1


def btyd_summary(snapshot: pd.DataFrame) -> pd.DataFrame:
    """The models' inputs from the snapshot features: repeat purchase days x, t_x and T in weeks, and
    the mean spend of a repeat purchase day.

    Counted in whole days up to the last day before the cutoff, as Fader and Hardie (and
    lifetimes' `summary_data_from_transaction_data` with that day as `observation_period_end`)
    count them, so the published CDNOW estimates come out of this pipeline's own features.
    A customer without a purchase yet (a subscriber) has NaNs.
    """
    observed_days = _whole_days(snapshot["tenure_days"])
    return pd.DataFrame(
        {
            "frequency": snapshot["purchase_days"].to_numpy(dtype=float) - 1,
            "recency": (observed_days - _whole_days(snapshot["recency_days"])) / DAYS_PER_WEEK,
            "T": observed_days / DAYS_PER_WEEK,
            "monetary_value": snapshot["mean_repeat_day_spend"].to_numpy(dtype=float),
        },
        index=snapshot.index,
    )


@contextlib.contextmanager
def _quiet_lifetimes() -> Iterator[None]:
    """lifetimes overflows inside its optimiser's trial steps and prints the optimiser's state
    when a fit fails; both are handled by the caller, so neither reaches the user."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _fit_with_least_penalty(make, fit, name: str):
    """Maximum likelihood; if that fails to converge, with the smallest L2 penalty that does."""
    for penalizer in PENALIZERS:
        try:
            with _quiet_lifetimes():
                return fit(make(penalizer_coef=penalizer))
        except ConvergenceError:
            continue
    raise InsufficientData(
        f"{name} did not converge on these customers with any penalizer in {PENALIZERS}: "
        "too few customers, or too few with repeat purchases, to fit it"
    )


# lifetimes starts Pareto/NBD's search from random values (BG/NBD's from fixed ones): start it
# from the centre of that draw instead, so the same data give the same fit.
START = {"bgnbd": {}, "pareto_nbd": {"initial_params": np.ones(4)}}


def fitted_customers(summary: pd.DataFrame, customers: int = FIT_CUSTOMERS) -> pd.DataFrame:
    """The customers a model is fitted on: all of them, or past `customers` a fixed random sample
    (four or five parameters need no more; the fitted model then reads everyone)."""
    return summary if len(summary) <= customers else summary.sample(n=customers, random_state=0).sort_index()


def fit_purchases(summary: pd.DataFrame, model: PurchaseModel = "bgnbd"):
    buyers = summary.dropna(subset=["frequency", "recency", "T"])
    return _fit_with_least_penalty(
        FITTERS[model], lambda fitter: fitter.fit(buyers["frequency"], buyers["recency"], buyers["T"], **START[model]), model
    )


def _spend_rows(summary: pd.DataFrame) -> pd.Series:
    """Customers whose repeat purchases tell Gamma-Gamma something: at least one, with positive spend."""
    return (summary["frequency"] > 0) & (summary["monetary_value"] > 0)


def fit_spend(summary: pd.DataFrame) -> GammaGammaFitter:
    repeat = summary[_spend_rows(summary)]
    return _fit_with_least_penalty(GammaGammaFitter, lambda fitter: fitter.fit(repeat["frequency"], repeat["monetary_value"]), "Gamma-Gamma")


@dataclass(frozen=True)
class Btyd:
    """A purchase model and Gamma-Gamma, fitted on one snapshot's customers."""

    purchases: BetaGeoFitter | ParetoNBDFitter
    spend: GammaGammaFitter | None = None

    @classmethod
    def fit(cls, snapshot: pd.DataFrame, model: PurchaseModel = "bgnbd", *, spend: bool = True, customers: int = FIT_CUSTOMERS) -> Btyd:
        summary = fitted_customers(btyd_summary(snapshot), customers)
        return cls(fit_purchases(summary, model), fit_spend(summary) if spend else None)

    def expected_purchases(self, snapshot: pd.DataFrame, days: float) -> np.ndarray:
        """Expected purchases in the next `days` (0 for a customer without a purchase yet).

        lifetimes' BG/NBD formula goes through a hypergeometric function that has no value where
        a + b + x - 1 nears 0, as when a fit finds next to no dropout (a, b -> 0: Online Retail's
        wholesale buyers); there the answer of that limit is used instead: an alive customer buys
        at their posterior rate for the whole span.
        """
        summary = btyd_summary(snapshot)
        with _quiet_lifetimes():
            expected = np.asarray(
                self.purchases.conditional_expected_number_of_purchases_up_to_time(
                    days / DAYS_PER_WEEK, summary["frequency"], summary["recency"], summary["T"]
                ),
                dtype=float,
            )
        failed = ~np.isfinite(expected) & summary["frequency"].notna().to_numpy()
        if failed.any() and isinstance(self.purchases, BetaGeoFitter):
            alive, shape, rate = self._bgnbd_posterior(snapshot)
            expected = np.where(failed, alive * shape / rate * days / DAYS_PER_WEEK, expected)
        return np.nan_to_num(expected, nan=0.0)

    def spend_per_purchase(self, snapshot: pd.DataFrame) -> np.ndarray:
        """Gamma-Gamma's expected spend per purchase: the customer's own mean shrunk to the population's."""
        summary = btyd_summary(snapshot)
        informative = _spend_rows(summary)
        # Without an informative repeat purchase, Gamma-Gamma's answer for x = 0: the population mean.
        frequency = summary["frequency"].where(informative, 0.0)
        monetary = summary["monetary_value"].where(informative, 1.0)
        return np.asarray(self.spend.conditional_expected_average_profit(frequency, monetary), dtype=float)

    def expected_spend(self, snapshot: pd.DataFrame, days: float) -> np.ndarray:
        return self.expected_purchases(snapshot, days) * self.spend_per_purchase(snapshot)

    def probability_alive(self, snapshot: pd.DataFrame) -> np.ndarray:
        summary = btyd_summary(snapshot)
        with _quiet_lifetimes():
            alive = self.purchases.conditional_probability_alive(summary["frequency"], summary["recency"], summary["T"])
        return np.nan_to_num(np.asarray(alive, dtype=float), nan=0.0)

    def _bgnbd_posterior(self, snapshot: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """P(alive), and the shape and rate of an alive customer's Gamma posterior purchase rate (per week)."""
        if not isinstance(self.purchases, BetaGeoFitter):
            raise TypeError("the purchase-timing outlook is derived for BG/NBD only")
        summary = btyd_summary(snapshot)
        r, alpha = self.purchases.params_["r"], self.purchases.params_["alpha"]
        return self.probability_alive(snapshot), r + summary["frequency"].to_numpy(), alpha + summary["T"].to_numpy()

    def probability_of_purchase(self, snapshot: pd.DataFrame, days: float) -> np.ndarray:
        """P(at least one purchase in the next `days`), BG/NBD.

        An alive customer stays alive until the next purchase (BG/NBD drops customers only right
        after a purchase), so P = P(alive) x (1 - (rate / (rate + t)) ^ shape).
        """
        alive, shape, rate = self._bgnbd_posterior(snapshot)
        probability = alive * (1 - (rate / (rate + days / DAYS_PER_WEEK)) ** shape)
        return np.nan_to_num(probability, nan=0.0)

    def median_days_to_next_purchase(self, snapshot: pd.DataFrame, max_days: float) -> np.ndarray:
        """Days until the chance of a purchase reaches one half (BG/NBD); NaN if not within `max_days`."""
        alive, shape, rate = self._bgnbd_posterior(snapshot)
        with np.errstate(divide="ignore", invalid="ignore"):
            # Solve alive x (1 - (rate / (rate + t)) ^ shape) = 1/2 for t.
            days = rate * ((1 - 0.5 / alive) ** (-1 / shape) - 1) * DAYS_PER_WEEK
        days = np.where((alive > 0.5) & np.isfinite(days), days, np.nan)
        return np.where(days <= max_days, days, np.nan)

    def discounted_purchases(self, snapshot: pd.DataFrame, days: float, annual_discount_rate: float) -> np.ndarray:
        """Expected purchases in the next `days`, month by month, each month's discounted to today."""
        monthly_rate = (1 + annual_discount_rate) ** (1 / 12) - 1
        ends = [min(month * DAYS_PER_MONTH, days) for month in range(1, int(np.ceil(days / DAYS_PER_MONTH)) + 1)]
        total, before = np.zeros(len(snapshot)), np.zeros(len(snapshot))
        for month, end in enumerate(ends, start=1):
            upto = self.expected_purchases(snapshot, end)
            total += (upto - before) / (1 + monthly_rate) ** month
            before = upto
        return total
