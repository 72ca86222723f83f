"""The champion/challenger gate: does a newly trained model replace the one in service?

Both are measured on the same rows: the latest labelled window (the latest training cutoff,
with what its customers did in the horizon after it). The challenger is promoted when it beats
the champion by a margin on one metric and no guard fails; without a champion, when no guard
fails. The guards are checks a model must pass whatever the champion scores: calibration on
the window, the share of input rows quarantined, the score's stability on today's customers,
and not falling behind the classic baselines or the champion's customer-value ranking.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# +1: higher is better; -1: lower is better.
METRIC_DIRECTION = {"roc_auc": 1, "pr_auc": 1, "top_decile_lift": 1, "brier": -1, "log_loss": -1}


@dataclass(frozen=True)
class GateSettings:
    metric: str = "roc_auc"
    min_improvement: float = 0.005
    max_calibration_error: float = 0.1
    max_quarantine_share: float = 0.5
    max_score_psi: float = 0.25
    baseline_tolerance: float = 0.01
    max_value_gini_loss: float = 0.02


@dataclass(frozen=True)
class Guard:
    name: str
    value: float | None
    limit: float
    passed: bool
    meaning: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    improvement: float | None  # challenger - champion on the metric, signed so that positive is better

    def to_dict(self) -> dict:
        return {"decision": "promoted" if self.promote else "kept"} | asdict(self)


def improvement(metric: str, challenger: float, reference: float) -> float:
    """How much better `challenger` is than `reference` on `metric` (negative: worse)."""
    return METRIC_DIRECTION[metric] * (challenger - reference)


def at_most(name: str, value: float | None, limit: float, meaning: str) -> Guard:
    """A guard that passes when `value` is known and not above `limit`."""
    value = None if value is None else float(value)
    return Guard(name, value, limit, value is not None and value <= limit, meaning)


def at_least(name: str, value: float | None, limit: float, meaning: str) -> Guard:
    value = None if value is None else float(value)
    return Guard(name, value, limit, value is not None and value >= limit, meaning)


def guards(
    settings: GateSettings,
    *,
    calibration_error: float,
    quarantine_share: float,
    score_psi: float | None,
    challenger_metric: float,
    best_baseline_metric: float | None,
    value_gini: float,
    champion_value_gini: float | None,
) -> list[Guard]:
    metric = settings.metric
    checks = [
        at_most("calibration", calibration_error, settings.max_calibration_error,
                "mean |predicted - observed churn rate| over ten equal-count bins of the window"),
        at_most("data_quality", quarantine_share, settings.max_quarantine_share,
                "the largest share of an input file's rows quarantined by ingest"),
        at_most("score_stability", score_psi, settings.max_score_psi,
                "PSI of the challenger's scores on today's customers against its own training rows"),
    ]
    if best_baseline_metric is not None:
        checks.append(at_least(
            "beats_baselines", improvement(metric, challenger_metric, best_baseline_metric), -settings.baseline_tolerance,
            f"challenger's {metric} minus the best classic baseline's on the window"))
    if champion_value_gini is not None:
        checks.append(at_least(
            "customer_value", value_gini - champion_value_gini, -settings.max_value_gini_loss,
            "challenger's normalised Gini of spend minus the champion's on the window"))
    return checks


def decide(settings: GateSettings, challenger_metric: float, champion_metric: float | None, checks: list[Guard]) -> Decision:
    failed = [guard.name for guard in checks if not guard.passed]
    gain = None if champion_metric is None else improvement(settings.metric, challenger_metric, champion_metric)
    if failed:
        return Decision(False, f"guard failed: {', '.join(failed)}", gain)
    if gain is None:
        return Decision(True, "no champion yet: the first model that passes every guard becomes champion", None)
    if gain >= settings.min_improvement:
        return Decision(True, f"{settings.metric} better by {gain:.4f} (margin {settings.min_improvement})", gain)
    change = f"better by {gain:.4f}" if gain >= 0 else f"worse by {-gain:.4f}"
    return Decision(False, f"{settings.metric} {change}, less than the margin {settings.min_improvement}", gain)
