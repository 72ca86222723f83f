"""RFM scores and the named segments marketing teams know, from rules that are data (params.yaml).

Scores run from 1 (worst) to 5 (best) by quintile of the customers scored together: recency
(the more recent, the higher), frequency (orders) and monetary (net spend). Tied customers
share a score. A segment rule names the recency scores and the frequency-monetary scores (the
rounded mean of F and M) it covers; the first matching rule names the segment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

SCORES = 5
UNSEGMENTED = "Unsegmented"


@dataclass(frozen=True)
class SegmentRule:
    name: str
    recency: tuple[int, int]  # lowest and highest R score covered
    frequency_monetary: tuple[int, int]

    def matches(self, r: pd.Series, fm: pd.Series) -> pd.Series:
        return r.between(*self.recency) & fm.between(*self.frequency_monetary)


def quintile_scores(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """1-5 by share of customers at or below a value (ties share a score); no value scores 1."""
    filled = values.astype(float)
    filled = filled.fillna(-np.inf if higher_is_better else np.inf)
    share = filled.rank(method="average", pct=True, ascending=higher_is_better)
    return np.ceil(share * SCORES).clip(1, SCORES).astype(int)


def rfm_scores(snapshot: pd.DataFrame) -> pd.DataFrame:
    r = quintile_scores(snapshot["recency_days"], higher_is_better=False)
    f = quintile_scores(snapshot["orders"])
    m = quintile_scores(snapshot["net_spend"])
    # Round half up: (4 + 5) / 2 = 4.5 -> 5, as the F-M average is usually rounded in RFM tables.
    fm = np.floor((f + m) / 2 + 0.5).astype(int)
    return pd.DataFrame({"r_score": r, "f_score": f, "m_score": m, "fm_score": fm}, index=snapshot.index)


def segments(scores: pd.DataFrame, rules: Sequence[SegmentRule]) -> pd.Series:
    """The first matching rule's name per customer; `Unsegmented` where no rule matches."""
    names = pd.Series(UNSEGMENTED, index=scores.index, dtype=object)
    unassigned = pd.Series(True, index=scores.index)
    for rule in rules:
        hit = unassigned & rule.matches(scores["r_score"], scores["fm_score"])
        names[hit] = rule.name
        unassigned &= ~hit
    return names


def uncovered_cells(rules: Sequence[SegmentRule]) -> list[tuple[int, int]]:
    """(R, FM) score pairs no rule covers: a mapping in params should leave none."""
    cells = pd.DataFrame([(r, fm) for r in range(1, SCORES + 1) for fm in range(1, SCORES + 1)], columns=["r_score", "fm_score"])
    named = segments(cells, rules)
    return [tuple(cell) for cell in cells[named == UNSEGMENTED].itertuples(index=False)]
