"""A sample of labelled snapshots for a model to learn from, or to search its parameters on, past a size.

The cost of a fit grows with its rows; what a model learns from them stops growing long before
(benchmarks/sampling.py). Past `rows_per_cutoff` rows at a cutoff, a cutoff keeps that many:

- stratified by the churn outcome: each outcome keeps its share of the cutoff (rounded up);
- drawn by a seeded hash of the customer id: the same rows on every run;
- each kept row weighted by the rows it stands for (its stratum's rows over those kept, times any
  weight it had: `WEIGHT`), so every cutoff and outcome weighs in a fit, in the calibration and
  in the churn rates what it does in full.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WEIGHT = "sample_weight"  # on sampled rows: how many rows each stands for (no feature: models/training.py)
KEYS = ["customer_id", "cutoff", "churned"]  # all the sample reads of a row


def sampled_rows(keys: pd.DataFrame, rows_per_cutoff: int, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The positions of the rows of `keys` (KEYS columns) to keep, in order, and the weight each
    stands for; None where no cutoff holds more than `rows_per_cutoff` rows."""
    cutoff_rows = keys.groupby("cutoff")["cutoff"].transform("size").to_numpy()
    if cutoff_rows.max(initial=0) <= rows_per_cutoff:
        return None
    strata = [keys["cutoff"], keys["churned"]]
    stratum_rows = keys.groupby(strata)["cutoff"].transform("size").to_numpy()
    # ceil(stratum x rows_per_cutoff / cutoff), in integers: no rounding drift between runs or machines.
    kept = np.where(cutoff_rows > rows_per_cutoff, (stratum_rows * rows_per_cutoff + cutoff_rows - 1) // cutoff_rows, stratum_rows)
    hashed = pd.util.hash_pandas_object(keys["customer_id"].astype("string"), index=False, hash_key=f"{seed:016d}"[-16:])
    place = pd.Series(hashed.to_numpy(), index=keys.index).groupby(strata).rank(method="first").to_numpy()
    chosen = np.flatnonzero(place <= kept)
    return chosen, stratum_rows[chosen] / kept[chosen]


def sample(labelled: pd.DataFrame, rows_per_cutoff: int | None, seed: int) -> pd.DataFrame:
    """`labelled`, or past `rows_per_cutoff` rows at a cutoff its weighted sample (module docstring)."""
    chosen = None if rows_per_cutoff is None else sampled_rows(labelled[KEYS], rows_per_cutoff, seed)
    if chosen is None:
        return labelled
    rows, weights = chosen
    kept = labelled.iloc[rows]
    return kept.assign(**{WEIGHT: weights * (kept[WEIGHT].to_numpy() if WEIGHT in kept else 1.0)})
