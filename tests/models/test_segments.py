from __future__ import annotations

import numpy as np
import pandas as pd

from models.segments import SegmentRule, quintile_scores, rfm_scores, segments, uncovered_cells
from pipeline.config import load_params
from tests.conftest import ROOT


def default_rules() -> list[SegmentRule]:
    return [SegmentRule(rule.name, tuple(rule.recency), tuple(rule.frequency_monetary)) for rule in load_params(ROOT / "params.yaml").score.rfm_segments]


def test_quintile_scores_run_from_worst_to_best_and_ties_share_a_score():
    orders = pd.Series([1, 1, 1, 1, 2, 3, 4, 5, 8, 20])
    scores = quintile_scores(orders)
    assert scores.tolist() == [2, 2, 2, 2, 3, 3, 4, 4, 5, 5]
    recency = pd.Series([1.0, 400.0, 30.0, np.nan, 90.0])
    assert quintile_scores(recency, higher_is_better=False).tolist() == [5, 2, 4, 1, 3]  # never bought = worst


def test_rfm_scores_round_the_mean_of_f_and_m_half_up():
    snapshot = pd.DataFrame({"recency_days": [5.0, 50, 100, 200, 300], "orders": [9, 5, 3, 2, 1], "net_spend": [10.0, 900, 500, 300, 100]})
    scores = rfm_scores(snapshot)
    assert scores["r_score"].tolist() == [5, 4, 3, 2, 1]
    assert scores["f_score"].tolist() == [5, 4, 3, 2, 1]
    assert scores["m_score"].tolist() == [1, 5, 4, 3, 2]
    assert scores["fm_score"].tolist() == [3, 5, 4, 3, 2]  # (5 + 1) / 2 = 3, (4 + 5) / 2 = 4.5 -> 5


def test_the_default_mapping_names_every_cell_with_the_segments_people_know():
    rules = default_rules()
    assert uncovered_cells(rules) == []
    assert {rule.name for rule in rules} == {
        "Champions", "Loyal", "Potential loyalists", "New", "Promising", "Need attention", "About to sleep",
        "At risk", "Can't lose them", "Hibernating", "Lost",
    }
    cells = pd.DataFrame({"r_score": [5, 5, 1, 1, 2], "fm_score": [5, 1, 1, 5, 3]})
    assert segments(cells, rules).tolist() == ["Champions", "New", "Lost", "Can't lose them", "At risk"]


def test_the_first_matching_rule_wins_and_gaps_are_reported():
    rules = [SegmentRule("Top", (4, 5), (4, 5)), SegmentRule("Recent", (5, 5), (1, 5))]
    cells = pd.DataFrame({"r_score": [5, 5, 3], "fm_score": [5, 2, 3]})
    assert segments(cells, rules).tolist() == ["Top", "Recent", "Unsegmented"]
    assert (3, 3) in uncovered_cells(rules) and (5, 1) not in uncovered_cells(rules)
