"""The champion/challenger gate: does a newly trained model replace the one in service?

The churn model and the value model are judged each on its own metric and promoted each on
its own. The evidence is a paired difference (challenger minus champion, signed so that
positive is better) with a 95% interval from customer resamples (models/uncertainty.py), from
one of two comparisons (docs/retraining.md says which applies when):

- `models`: both models on the latest labelled window. The challenger is represented by its
  backtest model at that cutoff, fitted with the same procedure on every label that had closed
  by then. Fair when the champion's training labels ended by the window's cutoff; otherwise the
  champion saw part of those outcomes, which can only flatter it, so a challenger ahead there is
  ahead despite it, while a champion ahead proves nothing.
- `procedures`: the champion's recorded procedure replayed on the challenger's backtest folds,
  against the challenger's backtest: what each procedure would have produced at the same
  cutoffs from the same data.
- `list_profit`: the realised profit of the list the challengers (churn and value together)
  would have built on the window, against the champions' list, fair on the same terms as
  `models`. It judges both models at once, so it can hold a challenger back, never promote one.

Promote when some evidence is above zero and none is below; or when none is below zero and a
guard forces a change (the champion's training rows no longer describe today's customers).
Keep the champion otherwise. Checks a challenger must pass whatever the champion scores
(calibration, data quality, score stability, not behind a classic baseline) block promotion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from models.uncertainty import above_zero, below_zero

MODELS_COMPARISON = "models"
PROCEDURES_COMPARISON = "procedures"
# The realised profit of the list the challengers would have built on the window against the
# champions' list: it judges both models at once, so it can keep a champion but never promote alone.
LIST_PROFIT_COMPARISON = "list_profit"


@dataclass(frozen=True)
class Guard:
    name: str
    value: float | None
    limit: float
    passed: bool
    meaning: str

    def to_dict(self) -> dict:
        return asdict(self)


def at_most(name: str, value: float | None, limit: float, meaning: str) -> Guard:
    """A guard that passes when `value` is known and not above `limit`."""
    value = None if value is None else float(value)
    return Guard(name, value, limit, value is not None and value <= limit, meaning)


def at_least(name: str, value: float | None, limit: float, meaning: str) -> Guard:
    value = None if value is None else float(value)
    return Guard(name, value, limit, value is not None and value >= limit, meaning)


@dataclass(frozen=True)
class Evidence:
    """The challenger's advantage over the champion on the gate metric from one comparison."""

    comparison: str  # MODELS_COMPARISON or PROCEDURES_COMPARISON
    advantage: float
    low: float
    high: float
    fair: bool  # False: the champion saw part of the outcomes, so only an advantage above zero counts
    what: str  # exactly what was compared, in words

    @classmethod
    def paired(cls, comparison: str, difference: dict[str, float], fair: bool, what: str) -> Evidence:
        """From a paired difference {advantage, low, high} (models/backtest.py, models/outcomes.py)."""
        return cls(comparison, difference["advantage"], difference["low"], difference["high"], fair, what)

    @property
    def for_challenger(self) -> bool:
        return above_zero(asdict(self))

    @property
    def for_champion(self) -> bool:
        return self.fair and below_zero(asdict(self))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    evidence: list[Evidence] = field(default_factory=list)
    guards: list[Guard] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "decision": "promoted" if self.promote else "kept",
            "reason": self.reason,
            "evidence": [item.to_dict() for item in self.evidence],
            "guards": [guard.to_dict() for guard in self.guards],
        }


def _stated(item: Evidence, metric: str) -> str:
    if item.comparison == LIST_PROFIT_COMPARISON:
        return f"realised profit {item.advantage:+,.0f} (95% {item.low:+,.0f} to {item.high:+,.0f}) comparing {item.comparison}"
    return f"{metric} {item.advantage:+.4f} (95% {item.low:+.4f} to {item.high:+.4f}) comparing {item.comparison}"


def decide(metric: str, evidence: list[Evidence], checks: list[Guard], *, has_champion: bool, forced_by: list[str] = ()) -> Decision:
    """Promote or keep, with the reason in words. `forced_by`: the guards that call for a change of champion."""
    failed = [guard.name for guard in checks if not guard.passed]
    if failed:
        return Decision(False, f"guard failed: {', '.join(failed)}", evidence, checks)
    if not has_champion:
        return Decision(True, "no champion yet: the first model that passes every guard becomes champion", evidence, checks)
    against = [item for item in evidence if item.for_champion]
    if against:
        return Decision(False, f"worse: {_stated(against[0], metric)}", evidence, checks)
    ahead = [item for item in evidence if item.for_challenger and item.comparison != LIST_PROFIT_COMPARISON]
    if ahead:
        return Decision(True, f"better: {_stated(ahead[0], metric)}", evidence, checks)
    if forced_by:
        return Decision(True, f"not worse, and a change is due: {', '.join(forced_by)}", evidence, checks)
    stated = "; ".join(_stated(item, metric) for item in evidence) or "no comparison could be made"
    return Decision(False, f"not shown better: {stated}", evidence, checks)
