"""The models on disk: LightGBM's own text format and small JSON files beside it, no pickles."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import lightgbm as lgb
import pandas as pd

from models import drift
from models.churn import ChurnModel
from models.clv import ClvModel
from models.training import BoosterModel
from pipeline import files

REFERENCE = "reference_profile.json"  # the training data's feature and score distributions (models/drift.py)


def save_model(model: BoosterModel, directory: Path) -> None:
    """Its boosters in LightGBM's text format and the rest of it as JSON (models/training.py::BoosterModel)."""
    for name, booster in model.boosters().items():
        with files.atomic_path(Path(directory) / name) as tmp:
            booster.save_model(tmp)
    files.write_json(model.state(), Path(directory) / model.STATE_FILE)


def load_model(model_type: type[BoosterModel], directory: str | Path) -> BoosterModel:
    directory = Path(directory)
    boosters = {path.name: lgb.Booster(model_file=str(path)) for path in sorted(directory.glob("*.txt"))}
    return model_type.restored(boosters, json.loads((directory / model_type.STATE_FILE).read_text(encoding="utf-8")))


def load_churn_model(directory: str | Path) -> ChurnModel:
    return load_model(ChurnModel, directory)


def load_clv_model(directory: str | Path) -> ClvModel:
    return load_model(ClvModel, directory)


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


def model_artifact(name: str) -> str:
    """The MLflow artifact that holds a registered model's directory."""
    return f"{name}_model"
