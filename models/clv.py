"""Customer value: what each customer will spend, when they will next buy, what they are worth.

Spend in the horizon is a LightGBM model with a Tweedie loss: one model for a target that is
0 for most customers and heavy-tailed for the rest (a compound Poisson-gamma: a count of
purchases, each of a gamma-distributed value). Measured on the Online Retail backtest, it ranks
as well as a two-part model (P(buy) x E[spend | buy]) at half the fitting, and the variance
power (1.2, 1.5 or 1.8) hardly matters. The power is a param, not searched: the Tweedie loss
the search compares trials by is a different yardstick at each power. It is split, tuned and
refitted as every model here is (models/training.py), on the same time-based validation as the
churn model.

Optionally the BTYD model's outputs (expected purchases, P(alive), expected spend per
purchase, fitted per cutoff on that cutoff's history) are features; `clv.btyd_features`
keeps them only where the backtest says they help.

Beside it, with the same tuned parameters and rounds, a second booster learns the spend of the
customers who stayed (not churned in the horizon): `spend_if_retained`, what a customer brings
in the horizon if they stay. It puts value at risk and the campaign's profit on the horizon's
basis (docs/definitions.md): what a leaver takes away is what they would have spent had they
stayed, never a 12-month value divided by a 90-day chance.

What a horizon cannot be validated on comes from BG/NBD (models/btyd.py), fitted on the
snapshot being scored: expected purchases, P(any purchase), the median days to the next
purchase, and the shape of a customer's value beyond the horizon: the lifetime CLV is the
model's horizon spend times BG/NBD's discounted purchases over the lifetime over its purchases
in the horizon.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd

from models.base import Procedure
from models.btyd import DAYS_PER_MONTH, Btyd
from models.metrics import decile_table, gains_points
from models.training import BoosterModel, FitReport, TrainingSettings, dataset, feature_columns, tune_and_refit

TARGET = "future_spend"
ACTUAL_SPEND = "actual_spend"  # the truth of its backtest rows
# The plots of a value backtest: how each curve is computed, and its x and y columns.
VALUE_CURVES = {
    "gains": (gains_points, ("contacted_share", "positives_share")),
    "deciles": (decile_table, ("decile", "mean_actual")),
}
OBJECTIVE = {"objective": "tweedie", "metric": "tweedie"}
BTYD_FEATURES = ("btyd_expected_purchases", "btyd_probability_alive", "btyd_spend_per_purchase")
NEXT_PURCHASE_MAX_DAYS = 365  # a median further out than this is "not expected"


def spend(frame: pd.DataFrame) -> np.ndarray:
    """Spend in the horizon: none (NaN) is 0; a net refund counts as 0, Tweedie takes no negatives."""
    return np.clip(frame[TARGET].to_numpy(dtype=float, na_value=0.0), 0.0, None)


def with_btyd_features(snapshots: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """The snapshots with BG/NBD x Gamma-Gamma's view of each customer, fitted per cutoff."""
    parts = []
    for _, snapshot in snapshots.groupby("cutoff", sort=False):
        btyd = Btyd.fit(snapshot)
        parts.append(
            pd.DataFrame(
                {
                    "btyd_expected_purchases": btyd.expected_purchases(snapshot, horizon_days),
                    "btyd_probability_alive": btyd.probability_alive(snapshot),
                    "btyd_spend_per_purchase": btyd.spend_per_purchase(snapshot),
                },
                index=snapshot.index,
            )
        )
    return snapshots.join(pd.concat(parts))


def retained(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of customers who did not churn in the horizon."""
    return frame[~frame["churned"].astype(bool)]


@dataclass(frozen=True)
class ClvModel(BoosterModel):
    """Predicted spend in the horizon per customer of a snapshot, and the spend if they stay (SHAP values in log spend)."""

    horizon_days: int
    retained_booster: lgb.Booster | None = None  # None: saved before spend_if_retained existed

    RETAINED_BOOSTER = "retained_booster.txt"  # the spend of customers who stay
    STATE_FILE = "clv.json"

    def boosters(self) -> dict[str, lgb.Booster]:
        return super().boosters() | ({} if self.retained_booster is None else {self.RETAINED_BOOSTER: self.retained_booster})

    def state(self) -> dict:
        return {"horizon_days": self.horizon_days}

    @classmethod
    def restored(cls, boosters: dict[str, lgb.Booster], state: dict) -> ClvModel:
        return cls(boosters[cls.BOOSTER], int(state["horizon_days"]), boosters.get(cls.RETAINED_BOOSTER))

    @property
    def uses_btyd_features(self) -> bool:
        return any(feature in BTYD_FEATURES for feature in self.features)

    def inputs(self, snapshot: pd.DataFrame) -> pd.DataFrame:
        if self.uses_btyd_features and not set(BTYD_FEATURES) <= set(snapshot.columns):
            snapshot = with_btyd_features(snapshot, self.horizon_days)
        return super().inputs(snapshot)

    def predict(self, snapshot: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(self.inputs(snapshot))

    def predict_if_retained(self, snapshot: pd.DataFrame) -> np.ndarray:
        if self.retained_booster is None:
            raise ValueError("this value model was saved before it learned the spend of retained customers: retrain it (dvc repro)")
        return self.retained_booster.predict(self.inputs(snapshot))


def fit_clv_model(
    labelled: pd.DataFrame,
    horizon_days: int,
    settings: TrainingSettings,
    study: optuna.Study,
    trial_callbacks: Sequence[Callable] = (),
    btyd_features: bool = False,
) -> tuple[ClvModel, FitReport]:
    if btyd_features:
        labelled = with_btyd_features(labelled, horizon_days)
    fitted = tune_and_refit(labelled, spend, horizon_days, settings, OBJECTIVE, study, trial_callbacks)
    stayed = retained(labelled)
    features = feature_columns(labelled)
    retained_booster = lgb.train(fitted.report.params, dataset(stayed, features, spend(stayed)), num_boost_round=fitted.report.boosting_rounds)
    return ClvModel(fitted.booster, horizon_days, retained_booster), fitted.report


@dataclass(frozen=True)
class ValueSettings:
    lifetime_months: int = 12
    annual_discount_rate: float = 0.10


def extension(horizon_purchases: np.ndarray, later_purchases: np.ndarray, horizon_days: int, days: float) -> np.ndarray:
    """Per customer, what carries horizon spend to `days`: BG/NBD's (discounted) purchases in `days`
    over its purchases in the horizon."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = later_purchases / horizon_purchases
    known = np.isfinite(ratio) & (horizon_purchases > 0)
    # Without a purchase yet BG/NBD expects none in either span: such a customer extends as the typical one does.
    typical = float(np.median(ratio[known])) if known.any() else days / horizon_days
    return np.where(known, ratio, typical)


def customer_value(snapshot: pd.DataFrame, model: ClvModel, settings: ValueSettings) -> pd.DataFrame:
    """Per customer: purchases and spend expected in the horizon, the spend if they stay, when
    next, and the lifetime value."""
    btyd = Btyd.fit(snapshot, spend=False)
    lifetime_days = settings.lifetime_months * DAYS_PER_MONTH
    horizon_purchases = btyd.expected_purchases(snapshot, model.horizon_days)
    lifetime_purchases = btyd.discounted_purchases(snapshot, lifetime_days, settings.annual_discount_rate)
    predicted_spend = model.predict(snapshot)
    return pd.DataFrame(
        {
            "expected_purchases": horizon_purchases,
            "probability_of_purchase": btyd.probability_of_purchase(snapshot, model.horizon_days),
            "days_to_next_purchase": btyd.median_days_to_next_purchase(snapshot, NEXT_PURCHASE_MAX_DAYS),
            "predicted_spend": predicted_spend,
            "spend_if_retained": model.predict_if_retained(snapshot),
            "lifetime_value": predicted_spend * extension(horizon_purchases, lifetime_purchases, model.horizon_days, lifetime_days),
        },
        index=snapshot.index,
    )


class ClvProcedure(Procedure):
    """Spend in the horizon: `fit_clv_model`, with the BTYD outputs as features if the `clv` section says so."""

    name = "clv"
    model_type = ClvModel
    loss = "validation_tweedie_loss"
    truth = ACTUAL_SPEND
    curves = VALUE_CURVES
    shap_units = "log spend"
    headline = ("normalised_gini", "top_decile_share", "total_ratio")

    def fit(self, labelled, study, trial_callbacks=()):
        return fit_clv_model(labelled, self.horizon_days, self.search, study, trial_callbacks, self.own["btyd_features"])

    # models/backtest.py imports this module: it is imported where it is used.
    def evaluate(self, fold, model):
        from models.backtest import value_fold_scores

        return value_fold_scores(fold, spend(fold.evaluation), model.predict(fold.evaluation), self.horizon_days)

    def plot_points(self, scores):
        from models.backtest import value_curves

        return value_curves(scores)

    def details(self) -> dict:
        return {"btyd_features": self.own["btyd_features"]}

    def explained(self, snapshots: pd.DataFrame) -> pd.DataFrame:
        return with_btyd_features(snapshots, self.horizon_days) if self.own["btyd_features"] else snapshots


PROCEDURE = ClvProcedure
