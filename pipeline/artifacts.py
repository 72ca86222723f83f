"""The models on disk: LightGBM's own text format and small JSON files beside it, no pickles."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import lightgbm as lgb
import pandas as pd

from models import drift
from models.calibration import Calibrator
from models.churn import ChurnModel
from models.clv import ClvModel
from pipeline import files

BOOSTER = "booster.txt"
RETAINED_BOOSTER = "retained_booster.txt"  # the value model's spend of customers who stay
CALIBRATION = "calibration.json"
CLV_SETTINGS = "clv.json"
REFERENCE = "reference_profile.json"  # the training data's feature and score distributions (models/drift.py)


def _save_booster(booster: lgb.Booster, directory: Path, name: str = BOOSTER) -> None:
    with files.atomic_path(directory / name) as tmp:
        booster.save_model(tmp)


def _load_booster(directory: Path, name: str = BOOSTER) -> lgb.Booster:
    return lgb.Booster(model_file=str(directory / name))


def save_churn_model(model: ChurnModel, directory: Path) -> None:
    _save_booster(model.booster, directory)
    files.write_json(model.calibrator.to_dict(), directory / CALIBRATION)


def load_churn_model(directory: str | Path) -> ChurnModel:
    directory = Path(directory)
    calibration = json.loads((directory / CALIBRATION).read_text(encoding="utf-8"))
    return ChurnModel(_load_booster(directory), Calibrator.from_dict(calibration))


def save_clv_model(model: ClvModel, directory: Path) -> None:
    _save_booster(model.booster, directory)
    if model.retained_booster is not None:
        _save_booster(model.retained_booster, directory, RETAINED_BOOSTER)
    files.write_json({"horizon_days": model.horizon_days}, directory / CLV_SETTINGS)


def load_clv_model(directory: str | Path) -> ClvModel:
    directory = Path(directory)
    settings = json.loads((directory / CLV_SETTINGS).read_text(encoding="utf-8"))
    retained = _load_booster(directory, RETAINED_BOOSTER) if (directory / RETAINED_BOOSTER).is_file() else None
    return ClvModel(_load_booster(directory), int(settings["horizon_days"]), retained)


SCORE = "churn_probability"  # the score's name in a reference profile


def reference_profile(model: ChurnModel, snapshots: pd.DataFrame) -> dict:
    """What the model was trained on: its features' distributions, and its scores' on the same rows."""
    return drift.profile(snapshots[model.features].assign(**{SCORE: model.predict(snapshots)}), [*model.features, SCORE])


def stability(reference: dict, model: ChurnModel, snapshot: pd.DataFrame) -> dict[str, float]:
    """PSI of each feature and of the score, `snapshot` against the reference profile."""
    return drift.stability(reference, snapshot[model.features].assign(**{SCORE: model.predict(snapshot)}))


def save_reference(reference: dict, directory: Path) -> None:
    files.write_json(reference, directory / REFERENCE)


def load_reference(directory: str | Path) -> dict | None:
    """The reference profile saved with a model, if it has one (models trained before it was added do not)."""
    path = Path(directory) / REFERENCE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def model_digest(directory: str | Path) -> str:
    """A fingerprint of a saved model's files: which registered version is the model on disk."""
    digest = hashlib.sha256()
    for path in sorted(Path(directory).iterdir()):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


# The MLflow artifact name of each model directory, and how to read it back.
LOADERS = {"churn_model": load_churn_model, "clv_model": load_clv_model}
