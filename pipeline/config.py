"""The one place that knows what params.yaml holds and where every file lives.

Params are parsed into strict models: an unknown or misspelt key is an error that names
the key, instead of a setting that silently does nothing.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParseParams(Strict):
    """How a file is read and which values are believable (docs/your_data.md)."""

    encoding: str | None
    delimiter: str | None
    decimal: str = Field(min_length=1, max_length=1)
    thousands: str | None = Field(max_length=1)
    null_values: list[str]
    earliest_date: dt.date
    max_abs_number: float = Field(gt=0)


class ParseOverrides(Strict):
    """A source's own exceptions to `data.parse`: each key given replaces the shared one."""

    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    thousands: str | None = None
    null_values: list[str] | None = None
    earliest_date: dt.date | None = None
    max_abs_number: float | None = None


class Source(Strict):
    """A user's file and which of its columns hold what the pipeline needs."""

    COLUMN_KEYS: ClassVar[tuple[str, ...]] = ()
    path: str
    customer_id: str
    parse: ParseOverrides | None = None

    def parse_settings(self, shared: ParseParams) -> ParseParams:
        """The shared parse settings with this source's own exceptions applied."""
        own = {} if self.parse is None else self.parse.model_dump(exclude_none=True)
        return shared.model_copy(update=own)

    @property
    def mapped_columns(self) -> dict[str, str]:
        """The pipeline's name -> the user's column name, for every column that is mapped."""
        columns = {key: getattr(self, key) for key in ("customer_id", *self.COLUMN_KEYS)}
        return {key: column for key, column in columns.items() if column is not None}


class FileCleaning(Strict):
    """Quirks of one file: they apply to the file they are written for and to no other."""

    cancel_prefix: str | None = None
    exclude_products: list[str] = Field(default_factory=list)


class TransactionsSource(Source):
    COLUMN_KEYS = ("timestamp", "amount", "quantity", "unit_price", "order_id", "product")
    timestamp: str
    amount: str | None = None
    quantity: str | None = None
    unit_price: str | None = None
    order_id: str | None = None
    product: str | None = None
    timestamp_format: str | None = None
    cleaning: dict[str, FileCleaning] = Field(default_factory=dict)
    drop_duplicates: bool

    def cleaning_rules(self) -> FileCleaning:
        """The rules written for this source's file (by name); none for any other file."""
        return self.cleaning.get(Path(self.path).name, FileCleaning())

    @model_validator(mode="after")
    def _amount_is_derivable(self) -> TransactionsSource:
        if self.amount is None and (self.quantity is None or self.unit_price is None):
            raise ValueError("map `amount`, or both `quantity` and `unit_price`")
        return self


class EventsSource(Source):
    COLUMN_KEYS = ("timestamp", "event_type", "value")
    timestamp: str
    event_type: str
    value: str | None = None
    timestamp_format: str | None = None
    event_type_names: dict[str, str] = Field(default_factory=dict)
    drop_duplicates: bool


class SubscriptionsSource(Source):
    COLUMN_KEYS = ("start", "end", "plan", "price", "discount")
    start: str
    end: str | None = None
    plan: str | None = None
    price: str | None = None
    discount: str | None = None
    timestamp_format: str | None = None


class CustomersSource(Source):
    attributes: list[str] = Field(default_factory=list)

    @property
    def mapped_columns(self) -> dict[str, str]:
        return super().mapped_columns | {attribute: attribute for attribute in self.attributes}


class SurveysSource(Source):
    """Answers to "how likely are you to recommend us?" (0-10), for the NPS."""

    COLUMN_KEYS = ("timestamp", "score")
    timestamp: str
    score: str
    timestamp_format: str | None = None


class CampaignSource(Source):
    """A campaign that ran with a randomized control: each customer's arm and what they did after."""

    COLUMN_KEYS = ("arm", "sent_at")
    arm: str
    control: str  # the arm's value for customers who got no contact
    outcomes: list[str] = Field(min_length=1)
    sent_at: str | None = None
    timestamp_format: str | None = None

    @property
    def mapped_columns(self) -> dict[str, str]:
        return super().mapped_columns | {outcome: outcome for outcome in self.outcomes}


class DataParams(Strict):
    parse: ParseParams
    transactions: TransactionsSource | None  # only `churn uplift` runs without it (from customers and a campaign)
    events: EventsSource | None = None
    subscriptions: SubscriptionsSource | None = None
    customers: CustomersSource | None = None
    surveys: SurveysSource | None = None
    campaign: CampaignSource | None = None

    def required_transactions(self) -> TransactionsSource:
        if self.transactions is None:
            raise ConfigError("data.transactions is not mapped: every stage but `churn uplift` needs a transaction file")
        return self.transactions


class FeaturesParams(Strict):
    windows_days: list[int] = Field(min_length=1)
    training_cutoffs: int = Field(ge=2)
    cutoff_spacing_days: int = Field(ge=1)
    min_history_days: int = Field(ge=0)
    active_days: int = Field(ge=1)
    engine: Literal["duckdb", "spark"]
    memory_limit: str
    threads: int = Field(ge=1)
    spark_master: str


class TrainParams(Strict):
    """How every model in `models` is searched and backtested; each model's own settings are its section."""

    models: list[str] = Field(min_length=1)
    seed: int
    num_threads: int = Field(ge=1)
    max_rounds: int = Field(ge=1)
    early_stopping_rounds: int = Field(ge=1)
    n_trials: int = Field(ge=1)
    tune: Literal["every_fit", "oldest_fold"]
    timeout_seconds: float | None = Field(gt=0)
    rows_per_cutoff: int | None = Field(ge=100)
    search_rows_per_cutoff: int | None = Field(ge=100)
    backtest_folds: int = Field(ge=1)
    min_outcomes: int = Field(ge=1)
    validation_cutoffs: int = Field(ge=1)
    bootstrap_replicates: int = Field(ge=50)

    @model_validator(mode="after")
    def _models_exist(self) -> TrainParams:
        unknown = [name for name in self.models if not (Path(__file__).parents[1] / "models" / f"{name}.py").is_file()]
        if unknown or len(set(self.models)) < len(self.models):
            raise ValueError(f"train.models names each model once, as a file in models/: {', '.join(unknown) or 'a name repeated'}")
        return self


class ChurnParams(Strict):
    """The churn model; its search budget, seed and backtest are the `train` section's."""

    calibration: Literal["isotonic", "sigmoid", "none"]
    lightgbm: dict[str, float | int | str | bool]


class ClvParams(Strict):
    """The value model; its search budget, seed and backtest are the `train` section's."""

    lifetime_months: int = Field(ge=1)
    annual_discount_rate: float = Field(ge=0)
    btyd_features: bool
    lightgbm: dict[str, float | int | str | bool]


class SegmentRuleParams(Strict):
    name: str
    recency: tuple[int, int]
    frequency_monetary: tuple[int, int]


class PlaybookRule(Strict):
    """Matches a customer when every key given matches; a key left out matches anyone."""

    action: str
    segments: list[str] | None = None
    risk: list[Literal["low", "medium", "high"]] | None = None
    value: list[Literal["low", "medium", "high"]] | None = None
    profitable: bool | None = None  # whether contacting the customer has a positive expected profit


class Bands(Strict):
    """Lower edges of the medium and high bands."""

    medium: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Bands:
        if not self.medium <= self.high:
            raise ValueError("medium must not be above high")
        return self


class ScoreParams(Strict):
    as_of: dt.date | None
    horizon_days: int = Field(ge=1)
    risk_bands: Bands
    value_bands: Bands
    rfm_segments: list[SegmentRuleParams]
    playbook: list[PlaybookRule] = Field(min_length=1)
    drift_psi_threshold: float = Field(gt=0)


class CampaignParams(Strict):
    rank_by: Literal["churn_risk", "uplift"]
    budget: float = Field(ge=0)
    contact_cost: float = Field(ge=0)
    offer_cost: float = Field(ge=0)
    margin: float = Field(gt=0, le=1)
    acceptance_alpha: float = Field(gt=0)
    acceptance_beta: float = Field(gt=0)
    control_share: float = Field(ge=0, lt=1)
    seed: int


class UpliftParams(Strict):
    """Who a campaign changes (models/uplift.py, docs/uplift.md): a T-learner per arm on LightGBM."""

    outcome: str  # one of data.campaign.outcomes: `uplift` is the expected change in it
    value_outcome: str | None  # the outcome in money, for incremental_profit; null if the campaign has none
    rank_by: str | None  # a customer attribute that a team without uplift would rank by, judged alongside
    holdout_share: float = Field(gt=0, lt=1)
    rounds: int = Field(ge=1)
    seed: int
    lightgbm: dict[str, float | int | str]


class KpisParams(Strict):
    period: Literal["month", "quarter", "week"]


class RetrainParams(Strict):
    """The champion/challenger gate of `churn retrain` (models/promotion.py, docs/retraining.md)."""

    metric: Literal["roc_auc", "pr_auc", "top_decile_lift", "brier", "log_loss"]
    value_metric: Literal["normalised_gini", "spearman", "top_decile_share", "mae"]
    max_calibration_error: float = Field(gt=0)
    max_quarantine_share: float = Field(ge=0, le=1)
    max_score_psi: float = Field(gt=0)


class TrackingParams(Strict):
    experiment: str


class Params(Strict):
    """Every section and value is required: params.yaml is the one place a default is written.

    A model added to `train.models` may bring a section of its own, named after it: its procedure
    reads it (models/base.py); no other section unknown here is accepted."""

    model_config = ConfigDict(extra="allow", frozen=True)

    data: DataParams
    features: FeaturesParams
    train: TrainParams
    churn: ChurnParams
    clv: ClvParams
    score: ScoreParams
    campaign: CampaignParams
    uplift: UpliftParams
    kpis: KpisParams
    retrain: RetrainParams
    tracking: TrackingParams

    @model_validator(mode="after")
    def _unknown_sections_are_models(self) -> Params:
        unknown = sorted(set(self.model_extra or {}) - set(self.train.models))
        if unknown:
            raise ValueError(f"unknown sections {', '.join(unknown)}: besides the pipeline's own, a section is a model's named in train.models")
        return self

    def model_section(self, name: str) -> dict:
        """{name: its section} for the model `name`, or {} where it has none."""
        section = getattr(self, name, None) if name in type(self).model_fields else (self.model_extra or {}).get(name)
        if section is None:
            return {}
        return {name: section.model_dump(mode="json") if isinstance(section, BaseModel) else section}


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


def load_data(path: str | Path, params_path: str | Path = "params.yaml") -> DataParams:
    """The sources a configs/ (or params) file maps, read as `params_path`'s `data.parse` says unless it has its own."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["data"]
        shared = yaml.safe_load(Path(params_path).read_text(encoding="utf-8"))["data"]["parse"]
        return DataParams.model_validate({"parse": shared} | data)
    except (OSError, yaml.YAMLError, KeyError, ValidationError) as exc:
        raise ConfigError(f"{path}: cannot read its data section: {exc}") from exc


# Files every stage reads or writes, relative to the project root (where dvc.yaml lives).
INTERIM = Path("data/interim")
CLEAN_TRANSACTIONS = INTERIM / "transactions.parquet"
CLEAN_EVENTS = INTERIM / "events.parquet"
CLEAN_SUBSCRIPTIONS = INTERIM / "subscriptions.parquet"
CLEAN_CUSTOMERS = INTERIM / "customers.parquet"
CLEAN_SURVEYS = INTERIM / "surveys.parquet"
QUARANTINE = Path("data/quarantine")
FEATURES = Path("data/features")
TRAINING_SNAPSHOTS = FEATURES / "training.parquet"
SCORING_SNAPSHOT = FEATURES / "scoring.parquet"
LAPSED_SNAPSHOT = FEATURES / "lapsed.parquet"  # bought before as_of, no customer at it: the win-back list
MODEL_DIR = Path("data/models")
STUDIES = Path("data/studies")
METRICS = Path("reports/metrics")
INGEST_METRICS = METRICS / "ingest.json"
FEATURES_METRICS = METRICS / "features.json"
OUTCOME_METRICS = METRICS / "outcomes.json"
OUTCOME_PLOTS = Path("reports/plots/outcomes")


@dataclass(frozen=True)
class ModelOutputs:
    """What the `train` stage writes for the model `name` (dvc.yaml's `train` stage names the same paths by ${item})."""

    name: str

    @property
    def model(self) -> Path:
        return MODEL_DIR / self.name

    @property
    def backtest(self) -> Path:
        return Path(f"data/evaluation/{self.name}_backtest.parquet")

    @property
    def fold_models(self) -> Path:  # each backtest fold's model, for the outcome backtest
        return Path(f"data/evaluation/{self.name}_folds")

    @property
    def metrics(self) -> Path:
        return METRICS / f"{self.name}.json"

    @property
    def plots(self) -> Path:
        return Path("reports/plots") / self.name


CHURN, CLV = ModelOutputs("churn"), ModelOutputs("clv")
CHURN_MODEL, CLV_MODEL = CHURN.model, CLV.model
CHURN_BACKTEST, CLV_BACKTEST = CHURN.backtest, CLV.backtest
CHURN_FOLD_MODELS, CLV_FOLD_MODELS = CHURN.fold_models, CLV.fold_models
CHURN_METRICS, CLV_METRICS = CHURN.metrics, CLV.metrics
OUTPUTS = Path("outputs")
SCORED_CUSTOMERS = OUTPUTS / "scored_customers.csv"
SCORED_CUSTOMERS_PARQUET = OUTPUTS / "scored_customers.parquet"
WIN_BACK = OUTPUTS / "win_back.csv"
REPORT = OUTPUTS / "report.html"
CAMPAIGN_METRICS = METRICS / "campaign.json"
DRIFT_METRICS = METRICS / "drift.json"
READBACK = Path("reports/readback")  # one file per published list read back (`churn readback`)
UPLIFT_SCORES = OUTPUTS / "uplift_scores.csv"
UPLIFT_METRICS = METRICS / "uplift.json"
UPLIFT_PLOTS = Path("reports/plots/uplift")
UPLIFT_QUARANTINE = Path("data/uplift/quarantine")  # its own reading of data.customers and data.campaign (it runs without transactions)
RETRAIN_LOCK = Path("data/retrain.lock")
DECISION = Path("reports/retrain/decision.json")
DECISION_PAGE = Path("reports/retrain/decision.md")
KPIS = Path("reports/kpis/kpis_by_period.csv")
COHORT_RETENTION = Path("reports/kpis/cohort_retention.csv")
KPI_METRICS = METRICS / "kpis.json"
KPI_PLOTS = Path("reports/plots/kpis")

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def tracking_uri() -> str:
    """The embedded SQLite store unless MLFLOW_TRACKING_URI points elsewhere."""
    return os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)

