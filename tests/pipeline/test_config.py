from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_params, tracking_uri

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_params_and_configs_load():
    params = load_params(ROOT / "params.yaml")
    assert params.data.transactions.path == "data/raw/online_retail.csv.gz"
    assert params.score.horizon_days == 90


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_a_misspelt_key_is_named(tmp_path):
    path = write(tmp_path, "data:\n  transactions: {path: a.csv, customer_id: c, timestamp: t, amount: v, amout: w}\n")
    with pytest.raises(ConfigError, match=r"data\.transactions\.amout: Extra inputs are not permitted"):
        load_params(path)


def test_amount_must_be_mapped_or_derivable(tmp_path):
    path = write(tmp_path, "data:\n  transactions: {path: a.csv, customer_id: c, timestamp: t, quantity: q}\n")
    with pytest.raises(ConfigError, match="map `amount`, or both `quantity` and `unit_price`"):
        load_params(path)


def test_as_of_is_a_date(tmp_path):
    base = "data:\n  transactions: {path: a.csv, customer_id: c, timestamp: t, amount: v}\n"
    assert load_params(write(tmp_path, base + "score: {as_of: 2011-09-01}\n")).score.as_of == dt.date(2011, 9, 1)
    with pytest.raises(ConfigError, match=r"score\.as_of"):
        load_params(write(tmp_path, base + "score: {as_of: soon}\n"))


def test_an_unreadable_params_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="absent.yaml: cannot read params"):
        load_params(tmp_path / "absent.yaml")


def test_tracking_uri_defaults_to_the_embedded_store_and_can_be_overridden(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri() == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri() == "http://127.0.0.1:5000"
