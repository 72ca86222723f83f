"""The one place that knows what params.yaml holds and where every file lives.

Params are parsed into strict models: an unknown or misspelt key is an error that names
the key, instead of a setting that silently does nothing.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TransactionsSource(Strict):
    path: str
    customer_id: str
    timestamp: str
    amount: str | None = None
    quantity: str | None = None
    unit_price: str | None = None
    order_id: str | None = None
    product: str | None = None
    timestamp_format: str | None = None
    cancel_prefix: str | None = None
    exclude_products: list[str] = Field(default_factory=list)
    drop_duplicates: bool = True

    @model_validator(mode="after")
    def _amount_is_derivable(self) -> TransactionsSource:
        if self.amount is None and (self.quantity is None or self.unit_price is None):
            raise ValueError("map `amount`, or both `quantity` and `unit_price`")
        return self

    @property
    def mapped_columns(self) -> dict[str, str]:
        """Canonical name -> the user's column name, for the columns that are mapped."""
        names = ("customer_id", "timestamp", "amount", "quantity", "unit_price", "order_id", "product")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


class EventsSource(Strict):
    path: str
    customer_id: str
    timestamp: str
    event_type: str
    value: str | None = None
    timestamp_format: str | None = None
    event_type_names: dict[str, str] = Field(default_factory=dict)
    drop_duplicates: bool = False

    @property
    def mapped_columns(self) -> dict[str, str]:
        names = ("customer_id", "timestamp", "event_type", "value")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


class DataParams(Strict):
    transactions: TransactionsSource
    events: EventsSource | None = None


class FeaturesParams(Strict):
    windows_days: list[int] = Field(default=[30, 90, 180, 365], min_length=1)
    training_cutoffs: int = Field(default=4, ge=2)
    cutoff_spacing_days: int = Field(default=30, ge=1)
    memory_limit: str = "2GB"
    threads: int = Field(default=2, ge=1)


class TrainParams(Strict):
    seed: int = 42
    num_threads: int = Field(default=2, ge=1)
    max_rounds: int = Field(default=1000, ge=1)
    early_stopping_rounds: int = Field(default=50, ge=1)
    lightgbm: dict[str, float | int | str | bool] = Field(default_factory=dict)


class ScoreParams(Strict):
    as_of: dt.date | None = None
    horizon_days: int = Field(default=90, ge=1)


class TrackingParams(Strict):
    experiment: str = "churn"


class Params(Strict):
    data: DataParams
    features: FeaturesParams = FeaturesParams()
    train: TrainParams = TrainParams()
    score: ScoreParams = ScoreParams()
    tracking: TrackingParams = TrackingParams()


class ConfigError(Exception):
    """params.yaml is missing, unreadable or holds a value the pipeline cannot use."""


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read params: {exc}") from exc
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc


# Files every stage reads or writes, relative to the project root (where dvc.yaml lives).
INTERIM = Path("data/interim")
CLEAN_TRANSACTIONS = INTERIM / "transactions.parquet"
CLEAN_EVENTS = INTERIM / "events.parquet"
QUARANTINE = Path("data/quarantine")
FEATURES = Path("data/features")
TRAINING_SNAPSHOTS = FEATURES / "training.parquet"
SCORING_SNAPSHOT = FEATURES / "scoring.parquet"
MODEL_DIR = Path("data/models")
CHURN_MODEL = MODEL_DIR / "churn_lightgbm.txt"
METRICS = Path("reports/metrics")
INGEST_METRICS = METRICS / "ingest.json"
FEATURES_METRICS = METRICS / "features.json"
CHURN_METRICS = METRICS / "churn.json"
OUTPUTS = Path("outputs")
SCORED_CUSTOMERS = OUTPUTS / "scored_customers.csv"

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def tracking_uri() -> str:
    """The embedded SQLite store unless MLFLOW_TRACKING_URI points elsewhere."""
    return os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)


SourceKind = Literal["transactions", "events"]
