from __future__ import annotations

import datetime as dt
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from pipeline import config
from pipeline.config import ConfigError, load_params, tracking_uri

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_params_and_configs_load():
    params = load_params(ROOT / "params.yaml")
    assert params.data.transactions.path == "data/raw/online_retail.csv.gz"
    assert params.score.horizon_days == 90


def write(tmp_path: Path, text: str) -> Path:
    """The shipped params.yaml with the sections of `text` in place of its own."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text()) | yaml.safe_load(text)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_a_misspelt_key_is_named(tmp_path):
    path = write(tmp_path, "data:\n  transactions: {path: a.csv, customer_id: c, timestamp: t, amount: v, drop_duplicates: true, amout: w}\n")
    with pytest.raises(ConfigError, match=r"data\.transactions\.amout: Extra inputs are not permitted"):
        load_params(path)


def test_amount_must_be_mapped_or_derivable(tmp_path):
    path = write(tmp_path, "data:\n  transactions: {path: a.csv, customer_id: c, timestamp: t, quantity: q, drop_duplicates: true}\n")
    with pytest.raises(ConfigError, match="map `amount`, or both `quantity` and `unit_price`"):
        load_params(path)


def test_as_of_is_a_date(tmp_path):
    score = yaml.safe_load((ROOT / "params.yaml").read_text())["score"]
    assert load_params(write(tmp_path, yaml.safe_dump({"score": score | {"as_of": "2011-09-01"}}))).score.as_of == dt.date(2011, 9, 1)
    with pytest.raises(ConfigError, match=r"score\.as_of"):
        load_params(write(tmp_path, yaml.safe_dump({"score": score | {"as_of": "soon"}})))


def test_an_unreadable_params_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="absent.yaml: cannot read params"):
        load_params(tmp_path / "absent.yaml")


def test_tracking_uri_defaults_to_the_embedded_store_and_can_be_overridden(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri() == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri() == "http://127.0.0.1:5000"


def params_models(model: type[BaseModel] = config.Params) -> set[type[BaseModel]]:
    """`model` and every params model inside it, however nested (optional, in lists)."""
    found = {model}
    for field in model.model_fields.values():
        pending = [field.annotation]
        while pending:
            annotation = pending.pop()
            pending.extend(typing.get_args(annotation))
            if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation not in found:
                found |= params_models(annotation)
    return found


def test_params_yaml_is_the_one_place_a_default_is_written():
    # A field may be left out only where leaving it out means "none": a column not mapped, no
    # products excluded, a playbook key that matches anyone. Any other default would be a second
    # copy of params.yaml's value, free to drift from it.
    models = params_models()
    assert {config.TrainParams, config.RetrainParams, config.TransactionsSource, config.PlaybookRule} <= models
    for model in models:
        for name, field in model.model_fields.items():
            if not field.is_required():
                default = field.get_default(call_default_factory=True)
                assert default is None or default in ([], {}), f"{model.__name__}.{name} defaults to {default!r}: write it in params.yaml only"


def test_a_section_left_out_of_params_is_named():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    del raw["retrain"]["max_score_psi"]
    with pytest.raises(ValidationError, match="retrain.max_score_psi"):
        config.Params.model_validate(raw)
