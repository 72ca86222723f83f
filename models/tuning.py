"""Optuna search over LightGBM's parameters, validated by time.

Each trial fits on the earlier cutoffs and stops early on the later validation cutoff; the
model's own validation loss is the objective (log loss for churn, Tweedie deviance for spend:
proper scores, rewarding ranking and honest levels alike), and LightGBM's pruning callback
stops hopeless trials midway. The params.yaml values are always trial 0, so a search never
returns something worse than the hand-set start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import lightgbm as lgb
import optuna
from optuna.trial import TrialState
from optuna_integration import LightGBMPruningCallback

VALIDATION = "validation"
ROUNDS_ATTR = "boosting_rounds"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def suggest_lightgbm(trial: optuna.Trial) -> dict:
    """The search space: the parameters that matter most for tabular customer data."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 64, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 10, 400, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
    }


def with_bagging(params: dict) -> dict:
    """LightGBM ignores bagging_fraction unless bagging_freq is set."""
    return params | {"bagging_freq": 1 if params.get("bagging_fraction", 1.0) < 1.0 else 0}


@dataclass(frozen=True)
class TuningResult:
    params: dict
    boosting_rounds: int
    validation_loss: float
    trials: int


def new_study(name: str, storage: str | None, seed: int) -> optuna.Study:
    """A study that resumes where an interrupted one with the same name stopped.

    A trial still RUNNING when the study is opened was cut off with its process (one process
    works on a study at a time): it is marked failed, and its place in the budget run again.
    """
    backend = optuna.storages.get_storage(storage)
    study = optuna.create_study(
        study_name=name,
        storage=backend,
        load_if_exists=True,
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=20),
    )
    study_id = backend.get_study_id_from_name(name)
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        backend.set_trial_state_values(backend.get_trial_id_from_study_id_trial_number(study_id, trial.number), optuna.trial.TrialState.FAIL)
    return study


def tune(
    study: optuna.Study,
    train_set: lgb.Dataset,
    valid_set: lgb.Dataset,
    base_params: dict,
    *,
    n_trials: int,
    timeout_seconds: float | None,
    max_rounds: int,
    early_stopping_rounds: int,
    callbacks: Sequence[Callable] = (),
) -> TuningResult:
    """Run the trials the study still lacks, then return its best parameters and rounds.

    `base_params` holds the fixed parameters (its `metric` is the objective) and the starting point.
    """
    metric = base_params["metric"]
    if not study.trials:
        # Optuna takes the searched names from this and ignores the fixed ones (objective, seed, ...).
        study.enqueue_trial(base_params)

    def objective(trial: optuna.Trial) -> float:
        params = with_bagging(base_params | suggest_lightgbm(trial))
        booster = lgb.train(
            params,
            train_set,
            num_boost_round=max_rounds,
            valid_sets=[valid_set],
            valid_names=[VALIDATION],
            callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False), LightGBMPruningCallback(trial, metric, VALIDATION)],
        )
        trial.set_user_attr(ROUNDS_ATTR, max(1, booster.best_iteration))
        return float(booster.best_score[VALIDATION][metric])

    finished = sum(trial.state in FINISHED for trial in study.trials)
    if finished < n_trials:
        study.optimize(objective, n_trials=n_trials - finished, timeout=timeout_seconds, callbacks=list(callbacks))
    best = study.best_trial
    return TuningResult(with_bagging(base_params | best.params), int(best.user_attrs[ROUNDS_ATTR]), float(best.value), len(study.trials))
