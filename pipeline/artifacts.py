"""The churn model on disk: LightGBM's own text format and the calibration as JSON, no pickles."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb

from models.calibration import Calibrator
from models.churn import ChurnModel
from pipeline import io

BOOSTER = "booster.txt"
CALIBRATION = "calibration.json"


def save_churn_model(model: ChurnModel, directory: Path) -> None:
    with io.atomic_path(directory / BOOSTER) as tmp:
        model.booster.save_model(tmp)
    io.write_json(model.calibrator.to_dict(), directory / CALIBRATION)


def load_churn_model(directory: str | Path) -> ChurnModel:
    directory = Path(directory)
    calibration = json.loads((directory / CALIBRATION).read_text(encoding="utf-8"))
    return ChurnModel(lgb.Booster(model_file=str(directory / BOOSTER)), Calibrator.from_dict(calibration))
