"""Population stability: has what a model sees moved away from what it was trained on?

A profile keeps, per feature (and for the model's score), the reference data's bins and the
share of rows in each: deciles for numbers (an extra bin for missing values), the categories
for text. The population stability index of new data against it is

    PSI = sum over bins of (new share - reference share) x ln(new share / reference share),

shares floored at 0.0001 so that an empty bin counts as very different rather than infinitely.
Rules of thumb: below 0.1 stable, 0.1 to 0.25 worth a look, above 0.25 shifted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BINS = 10
FLOOR = 1e-4
MISSING = "missing"


def _numeric_shares(values: pd.Series, edges: list[float]) -> dict[str, float]:
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    known = ~np.isnan(numbers)
    positions = np.searchsorted(np.asarray(edges), numbers[known], side="right")
    counts = np.bincount(positions, minlength=len(edges) + 1)
    shares = {str(position): count / len(numbers) for position, count in enumerate(counts)}
    return shares | {MISSING: float((~known).sum() / len(numbers))}


def _text_shares(values: pd.Series) -> dict[str, float]:
    return {str(key): float(share) for key, share in values.astype("string").fillna(MISSING).value_counts(normalize=True).items()}


def profile(frame: pd.DataFrame, columns: list[str], bins: int = BINS) -> dict[str, dict]:
    """Per column: its kind, its bin edges (numbers) and the reference share of each bin."""
    result = {}
    for column in columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            numbers = values.to_numpy(dtype=float, na_value=np.nan)
            known = numbers[~np.isnan(numbers)]
            edges = np.unique(np.quantile(known, np.linspace(0, 1, bins + 1)[1:-1])).tolist() if len(known) else []
            result[column] = {"kind": "number", "edges": edges, "shares": _numeric_shares(values, edges)}
        else:
            result[column] = {"kind": "text", "shares": _text_shares(values)}
    return result


def psi(reference: dict[str, float], current: dict[str, float]) -> float:
    total = 0.0
    # In a fixed order: a set's order changes from run to run, and with it the sum's last digit.
    for key in sorted(set(reference) | set(current)):
        expected, actual = max(reference.get(key, 0.0), FLOOR), max(current.get(key, 0.0), FLOOR)
        total += (actual - expected) * np.log(actual / expected)
    return float(total)


def stability(reference_profile: dict[str, dict], frame: pd.DataFrame) -> dict[str, float]:
    """PSI per profiled column of `frame` against the reference profile."""
    result = {}
    for column, spec in reference_profile.items():
        current = _numeric_shares(frame[column], spec["edges"]) if spec["kind"] == "number" else _text_shares(frame[column])
        result[column] = psi(spec["shares"], current)
    return result
