"""What every model of the pipeline does alike: split by time, tune LightGBM, refit on all.

1. validate by time: validate on the latest cutoff (or the latest few, pooled, where the
   outcome is rare) and fit on the cutoffs whose label windows closed by the first of them
   (never a random split across time). Where the history is too short for that, validate on
   a quarter of the customers at the latest cutoffs and fit on the others (`validation_split`);
2. tune LightGBM with Optuna on that split (models/tuning.py);
3. keep the tuned model's predictions on the validation cutoffs, a time slice it never saw
   (the churn model calibrates on them);
4. refit with the tuned parameters and rounds on every labelled snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd

from features.snapshots import LABEL_COLUMNS
from models.errors import InsufficientData
from models.sampling import WEIGHT, sample
from models.tuning import VALIDATION, tune

KEY_COLUMNS = ("customer_id", "cutoff")

# What the pipeline relies on, whatever params.yaml tunes: the same model for the same data.
REPRODUCIBLE = {"verbose": -1, "deterministic": True, "force_row_wise": True}


@dataclass(frozen=True)
class TrainingSettings:
    """How to fit: the starting LightGBM parameters and the search budget."""

    lightgbm: dict
    seed: int = 42
    num_threads: int = 2
    max_rounds: int = 1000
    early_stopping_rounds: int = 50
    n_trials: int = 30
    timeout_seconds: float | None = None
    validation_cutoffs: int = 1
    search_rows_per_cutoff: int | None = None  # past this many rows at a cutoff, the search tunes on a sample (models/sampling.py)

    def base_params(self, objective: dict) -> dict:
        """`objective` (LightGBM's objective and metric) over the starting parameters."""
        return self.lightgbm | REPRODUCIBLE | objective | {"seed": self.seed, "num_threads": self.num_threads}


@dataclass(frozen=True)
class ValidationSplit:
    fit: pd.DataFrame
    validation: pd.DataFrame
    validation_cutoffs: tuple[pd.Timestamp, ...]
    by: Literal["time", "customer"]


@dataclass(frozen=True)
class FitReport:
    """What the procedure chose and saw: for the run's log and metrics."""

    params: dict
    boosting_rounds: int
    validation_cutoffs: tuple[pd.Timestamp, ...]
    validated_by: Literal["time", "customer"]
    fit_rows: int
    validation_rows: int
    refit_rows: int
    validation_loss: float
    trials: int


@dataclass(frozen=True)
class TunedFit:
    booster: lgb.Booster  # refitted on every labelled snapshot
    split: ValidationSplit
    validation_predictions: np.ndarray  # of the booster fitted on split.fit only
    report: FitReport


@dataclass(frozen=True)
class BoosterModel:
    """A LightGBM booster that reads snapshot rows: the base of the churn and the value model."""

    booster: lgb.Booster

    BOOSTER: ClassVar[str] = "booster.txt"  # the file names a saved model is made of (pipeline/artifacts.py)
    STATE_FILE: ClassVar[str]

    @property
    def features(self) -> list[str]:
        return self.booster.feature_name()

    def boosters(self) -> dict[str, lgb.Booster]:
        """Its boosters by file name."""
        return {self.BOOSTER: self.booster}

    def state(self) -> dict:
        """Everything else it is made of, as JSON (saved in STATE_FILE)."""
        raise NotImplementedError

    @classmethod
    def restored(cls, boosters: dict[str, lgb.Booster], state: dict) -> BoosterModel:
        """The model `boosters()` and `state()` came from."""
        raise NotImplementedError

    def inputs(self, snapshot: pd.DataFrame) -> pd.DataFrame:
        return model_inputs(snapshot, self.features)

    def contributions(self, snapshot: pd.DataFrame) -> pd.DataFrame:
        """SHAP values (TreeSHAP, on the booster's raw scale) per customer and feature, from LightGBM itself."""
        values = self.booster.predict(self.inputs(snapshot), pred_contrib=True)
        return pd.DataFrame(values[:, :-1], columns=self.features, index=snapshot.index)


def feature_columns(snapshot: pd.DataFrame) -> list[str]:
    excluded = set(KEY_COLUMNS) | set(LABEL_COLUMNS) | {WEIGHT}
    return [column for column in snapshot.columns if column not in excluded]


def validation_split(labelled: pd.DataFrame, horizon_days: int, validation_cutoffs: int = 1) -> ValidationSplit:
    """Validate on the latest `validation_cutoffs` cutoffs; fit on those whose label window closed by the first.

    Where no cutoff is a horizon older than those (a short history), validate on a quarter of
    the customers at them and fit on the other customers' rows: tuning is then judged on the
    fit's own outcome period, but a backtest fold is still judged on a later one.
    """
    cutoffs = [pd.Timestamp(cutoff) for cutoff in sorted(labelled["cutoff"].unique())]
    if not cutoffs:
        raise InsufficientData("no labelled snapshot to fit and validate on")
    validation = tuple(cutoffs[-validation_cutoffs:])
    fit = labelled[labelled["cutoff"] <= validation[0] - pd.Timedelta(days=horizon_days)]
    if not fit.empty:
        return ValidationSplit(fit, labelled[labelled["cutoff"].isin(validation)], validation, "time")
    held_out = held_out_customers(labelled["customer_id"])
    at_validation = labelled["cutoff"].isin(validation)
    return ValidationSplit(labelled[~held_out], labelled[held_out & at_validation], validation, "customer")


def require_both_outcomes(labelled: pd.DataFrame, horizon_days: int, validation_cutoffs: int, minimum: int, where: str) -> None:
    """Stop, with a sentence, unless the fit and the validation rows of `labelled` each hold at
    least `minimum` customers who left and as many who stayed: fewer train or judge nothing."""
    split = validation_split(labelled, horizon_days, validation_cutoffs)
    for part, rows in (("fitting", split.fit), ("validation", split.validation)):
        left = int(rows["churned"].sum())
        stayed = len(rows) - left
        if min(left, stayed) < minimum:
            raise InsufficientData(
                f"{where}: the {part} snapshots hold {left:,} customers who left and {stayed:,} who stayed; "
                f"at least {minimum} of each are needed (train.min_outcomes): give more customers or more history"
            )


def held_out_customers(customer_ids: pd.Series) -> pd.Series:
    """A fixed quarter of the customers, by a hash of the id: the same whichever rows are asked about."""
    hashed = pd.util.hash_pandas_object(customer_ids.astype("string"), index=False).to_numpy()
    return pd.Series(hashed % 4 == 0, index=customer_ids.index)


def row_weights(frame: pd.DataFrame) -> np.ndarray:
    """How many customers each row stands for: 1 unless the rows are a weighted sample."""
    return frame[WEIGHT].to_numpy(dtype=float) if WEIGHT in frame else np.ones(len(frame))


def model_inputs(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The feature columns as LightGBM takes them: text (plan, channel, country ...) as categories.

    The booster keeps the training categories and maps scoring data onto them, so a value
    first seen at scoring time is treated as missing rather than shifting the codes.
    """
    inputs = frame[features].copy()
    for column in features:
        if not (pd.api.types.is_numeric_dtype(inputs[column]) or pd.api.types.is_bool_dtype(inputs[column])):
            inputs[column] = inputs[column].astype("category")
    return inputs


def dataset(frame: pd.DataFrame, features: list[str], label: np.ndarray, reference: lgb.Dataset | None = None) -> lgb.Dataset:
    # No pre-filtering: the tuner reuses one Dataset across trials with different min_data_in_leaf.
    weight = frame[WEIGHT].to_numpy(dtype=float) if WEIGHT in frame else None
    return lgb.Dataset(
        model_inputs(frame, features), label=label, weight=weight, reference=reference, free_raw_data=False,
        params={"feature_pre_filter": False},
    )


def tune_and_refit(
    labelled: pd.DataFrame,
    target: Callable[[pd.DataFrame], np.ndarray],
    horizon_days: int,
    settings: TrainingSettings,
    objective: dict,
    study: optuna.Study,
    trial_callbacks: Sequence[Callable] = (),
) -> TunedFit:
    """The procedure of the module docstring; `target` reads the label from a frame of snapshots."""
    features = feature_columns(labelled)
    split = validation_split(labelled, horizon_days, settings.validation_cutoffs)
    train_set = dataset(split.fit, features, target(split.fit))
    valid_set = dataset(split.validation, features, target(split.validation), reference=train_set)
    searched = [sample(rows, settings.search_rows_per_cutoff, settings.seed) for rows in (split.fit, split.validation)]
    on_sample = any(len(rows) < len(whole) for rows, whole in zip(searched, (split.fit, split.validation), strict=True))
    if on_sample:
        search_set = dataset(searched[0], features, target(searched[0]))
        search_sets = search_set, dataset(searched[1], features, target(searched[1]), reference=search_set)
    tuned = tune(
        study,
        *(search_sets if on_sample else (train_set, valid_set)),
        settings.base_params(objective),
        n_trials=settings.n_trials,
        timeout_seconds=settings.timeout_seconds,
        max_rounds=settings.max_rounds,
        early_stopping_rounds=settings.early_stopping_rounds,
        callbacks=trial_callbacks,
    )
    if on_sample:  # tuned on a sample: the rounds for every row, by early stopping on the whole validation cutoffs
        validated = lgb.train(
            tuned.params, train_set, num_boost_round=settings.max_rounds, valid_sets=[valid_set], valid_names=[VALIDATION],
            callbacks=[lgb.early_stopping(settings.early_stopping_rounds, verbose=False)],
        )
        rounds, loss = max(1, validated.best_iteration), float(validated.best_score[VALIDATION][objective["metric"]])
    else:
        validated = lgb.train(tuned.params, train_set, num_boost_round=tuned.boosting_rounds)
        rounds, loss = tuned.boosting_rounds, tuned.validation_loss
    final = lgb.train(tuned.params, dataset(labelled, features, target(labelled)), num_boost_round=rounds)
    report = FitReport(
        params=tuned.params,
        boosting_rounds=rounds,
        validation_cutoffs=split.validation_cutoffs,
        validated_by=split.by,
        fit_rows=len(split.fit),
        validation_rows=len(split.validation),
        refit_rows=len(labelled),
        validation_loss=loss,
        trials=tuned.trials,
    )
    return TunedFit(final, split, validated.predict(model_inputs(split.validation, features), num_iteration=rounds), report)


def cross_validated_predictions(
    frame: pd.DataFrame, target: Callable[[pd.DataFrame], np.ndarray], settings: TrainingSettings, objective: dict, folds: int = 5
) -> np.ndarray:
    """Each row's prediction by a booster fitted on the other customers of `frame` (k-fold by customer).

    Not a forecast: fitted on customers of the same snapshots, the boosters learn the very
    outcome periods they are judged on, which no model trained on earlier cutoffs can. The
    benchmarks print it as a reference for how much the features say about that outcome at all.
    Folds split customers, not rows: a customer's rows from neighbouring cutoffs are nearly
    alike, and on both sides of a split they would be recognised rather than predicted.
    Rounds by early stopping on a fifth of each fold's fitting rows.
    """
    features = feature_columns(frame)
    labels = target(frame)
    params = settings.base_params(objective)
    rng = np.random.default_rng(settings.seed)
    customer, customers = pd.factorize(frame["customer_id"], sort=True)
    fold_of_row = rng.permutation(np.arange(len(customers)) % folds)[customer]
    predictions = np.empty(len(frame))
    for fold in range(folds):
        held_out = fold_of_row == fold
        fitting = np.flatnonzero(~held_out)
        stopping = rng.random(len(fitting)) < 0.2
        train_set = dataset(frame.iloc[fitting[~stopping]], features, labels[fitting[~stopping]])
        stop_set = dataset(frame.iloc[fitting[stopping]], features, labels[fitting[stopping]], reference=train_set)
        booster = lgb.train(
            params, train_set, num_boost_round=settings.max_rounds, valid_sets=[stop_set],
            callbacks=[lgb.early_stopping(settings.early_stopping_rounds, verbose=False)],
        )
        predictions[held_out] = booster.predict(model_inputs(frame[held_out], features), num_iteration=booster.best_iteration)
    return predictions
