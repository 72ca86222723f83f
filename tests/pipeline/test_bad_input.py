"""The files users send, each with its exact outcome: a one-line answer naming the file, column
or setting, or every row accounted for (clean + quarantined, with the reasons).

Each case starts from the same real slice: the first 40 lines of Online Retail (UCI), with the
embedded data's mapping, and changes one thing about it.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline import config, featurize, ingest
from pipeline.cli import USER_ERRORS
from tests.conftest import EMBEDDED_TRANSACTIONS, ROOT

SLICE = pd.read_csv(EMBEDDED_TRANSACTIONS, dtype=str, nrows=40, keep_default_na=False)
TODAY = dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class Case:
    """A file (made from the slice) and the outcome it must have."""

    name: str
    write: Callable[[Path], Path]
    quarantined: dict[str, int] = field(default_factory=dict)  # primary reason -> rows
    error: str | None = None  # the message's telling part, when the file cannot be used at all
    data: dict = field(default_factory=dict)  # changes to the `data.transactions` mapping
    parse: dict = field(default_factory=dict)  # changes to `data.parse`
    check: Callable[[pd.DataFrame, pd.DataFrame], None] | None = None  # (clean, quarantine) -> asserts


def csv(frame: pd.DataFrame, name: str = "orders.csv", **options) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / name
        text = frame.to_csv(index=False, sep=options.get("sep", ","), lineterminator=options.get("lineterminator", "\n"))
        data = text.encode(options.get("encoding", "utf-8"))
        path.write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
        return path
    return write


def raw_text(text: str | bytes, name: str = "orders.csv") -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path
    return write


def parquet(frame: pd.DataFrame) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / "orders.parquet"
        frame.to_parquet(path)
        return path
    return write


def changed(rows: dict[int, dict[str, str]], frame: pd.DataFrame = SLICE) -> pd.DataFrame:
    """The slice with some cells changed: {row position: {column: value}}."""
    frame = frame.copy()
    for position, cells in rows.items():
        for column, value in cells.items():
            frame.loc[position, column] = value
    return frame


def typed_slice() -> pd.DataFrame:
    frame = SLICE.copy()
    frame["Quantity"] = frame["Quantity"].astype("int64")
    frame["UnitPrice"] = frame["UnitPrice"].astype("float64")
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    return frame


def clean_customers(expected: set[str]) -> Callable[[pd.DataFrame, pd.DataFrame], None]:
    def check(clean: pd.DataFrame, quarantine: pd.DataFrame) -> None:
        assert set(clean["customer_id"]) == expected
    return check


def amounts_total(total: float) -> Callable[[pd.DataFrame, pd.DataFrame], None]:
    def check(clean: pd.DataFrame, quarantine: pd.DataFrame) -> None:
        assert clean["amount"].sum() == pytest.approx(total)
    return check


SLICE_TOTAL = float((SLICE["Quantity"].astype(float) * SLICE["UnitPrice"].astype(float)).sum())
SLICE_CUSTOMERS = set(SLICE["CustomerID"])
EXCEL = SLICE.assign(UnitPrice=SLICE["UnitPrice"].str.replace(".", ",", regex=False))


def _first_timestamp(expected: str) -> Callable[[pd.DataFrame, pd.DataFrame], None]:
    def check(clean: pd.DataFrame, quarantine: pd.DataFrame) -> None:
        assert clean.sort_values("source_row")["timestamp"].iloc[0] == pd.Timestamp(expected)
    return check


def _quarantine_keeps(column: str, value: str) -> Callable[[pd.DataFrame, pd.DataFrame], None]:
    def check(clean: pd.DataFrame, quarantine: pd.DataFrame) -> None:
        assert quarantine[column].iloc[0] == value
    return check


def _returns(count: int) -> Callable[[pd.DataFrame, pd.DataFrame], None]:
    def check(clean: pd.DataFrame, quarantine: pd.DataFrame) -> None:
        assert int(clean["is_return"].sum()) == count
    return check


CASES = [
    Case("the slice as it is", csv(SLICE), check=amounts_total(SLICE_TOTAL)),
    Case("an Excel export: BOM and CRLF", raw_text("\ufeff".encode() + SLICE.to_csv(index=False, lineterminator="\r\n").encode()),
         check=amounts_total(SLICE_TOTAL)),
    Case("semicolons and decimal commas (a European Excel)", csv(EXCEL, sep=";"), parse={"decimal": ","}, check=amounts_total(SLICE_TOTAL)),
    Case("tab separated", csv(SLICE, name="orders.tsv", sep="\t"), check=amounts_total(SLICE_TOTAL)),
    Case("pipe separated", csv(SLICE, sep="|"), check=amounts_total(SLICE_TOTAL)),
    Case("Windows-1252 text", csv(changed({0: {"Description": "CAFÉ CRÈME MUG"}}), encoding="cp1252"), check=amounts_total(SLICE_TOTAL)),
    Case("the encoding named in params", csv(changed({0: {"Country": "Österreich"}}), encoding="latin-1"), parse={"encoding": "latin-1"}),
    Case("gzip", csv(SLICE, name="orders.csv.gz"), check=amounts_total(SLICE_TOTAL)),
    Case("Parquet with real types", parquet(typed_slice()), check=amounts_total(SLICE_TOTAL)),
    Case("thousands separators", csv(changed({0: {"UnitPrice": "1,002.55"}})), parse={"thousands": ","},
         check=amounts_total(SLICE_TOTAL + 6 * 1000)),
    Case("a date in year 1", csv(changed({3: {"InvoiceDate": "0001-01-01"}})), {"out of range timestamp (before 1970-01-01 or unrepresentable)": 1}),
    Case("a date in year 9999", csv(changed({3: {"InvoiceDate": "9999-12-31"}})), {f"future timestamp (after the run's day, {TODAY:%Y-%m-%d})": 1}),
    Case("a date before data.parse.earliest_date", csv(changed({3: {"InvoiceDate": "1950-06-01 10:00:00"}})),
         {"out of range timestamp (before 1970-01-01 or unrepresentable)": 1}),
    Case("a row dated after the run's day", csv(changed({3: {"InvoiceDate": "2099-01-01 10:00:00"}})),
         {f"future timestamp (after the run's day, {TODAY:%Y-%m-%d})": 1}),
    Case("a date that is no date", csv(changed({3: {"InvoiceDate": "yesterday"}})), {"unparseable timestamp": 1}),
    Case("an impossible date", csv(changed({3: {"InvoiceDate": "2011-02-30 10:00:00"}})), {"unparseable timestamp": 1}),
    Case("offsets and naive times mixed", csv(changed({0: {"InvoiceDate": "2010-12-01T10:26:00+02:00"}})),
         check=_first_timestamp("2010-12-01 08:26:00")),
    Case("inf", csv(changed({5: {"UnitPrice": "inf"}})), {"out of range unit_price": 1}),
    Case("1e309", csv(changed({5: {"UnitPrice": "1e309"}})), {"out of range unit_price": 1}),
    Case("an absurd amount", csv(changed({5: {"Quantity": "1e14"}})), {"out of range quantity": 1}),
    Case("a price in words", csv(changed({5: {"UnitPrice": "two pounds"}})), {"unparseable unit_price": 1}),
    Case("a negative price", csv(changed({5: {"UnitPrice": "-2.55"}})), {"negative unit_price": 1}),
    Case("a missing quantity", csv(changed({5: {"Quantity": ""}})), {"missing quantity": 1}),
    Case("null-like customer ids", csv(changed({1: {"CustomerID": "NULL"}, 2: {"CustomerID": "N/A"}, 3: {"CustomerID": "None"},
                                                4: {"CustomerID": "nan"}, 5: {"CustomerID": "-"}})), {"missing customer_id": 5}),
    Case("a blank customer id", csv(changed({1: {"CustomerID": "   "}})), {"missing customer_id": 1}),
    Case("ids written as floats are one customer", csv(SLICE.assign(CustomerID=SLICE["CustomerID"] + ".0")),
         check=clean_customers(SLICE_CUSTOMERS)),
    Case("ids with spaces around them", csv(SLICE.assign(CustomerID=" " + SLICE["CustomerID"] + " ")), check=clean_customers(SLICE_CUSTOMERS)),
    Case("an exact duplicate row", csv(pd.concat([SLICE, SLICE.iloc[[7]]], ignore_index=True)), {"duplicate row": 1}),
    Case("a source column named reason", csv(changed({5: {"UnitPrice": "-2.55"}}).assign(reason="gift")), {"negative unit_price": 1},
         check=_quarantine_keeps("reason (source)", "gift")),
    Case("source columns named value and source_row", csv(changed({5: {"UnitPrice": "-2.55"}}).assign(value="x", source_row="y")),
         {"negative unit_price": 1}, check=_quarantine_keeps("value (source)", "x")),
    Case("a line with an extra field", raw_text(SLICE.to_csv(index=False) + "536999,22222,MUG,1,2010-12-02 10:00:00,2.00,17850,United Kingdom,extra\n"),
         {"malformed row: its number of fields differs from the header's": 1}),
    Case("a line with a field missing", raw_text(SLICE.to_csv(index=False) + "536999,22222,MUG,1,2010-12-02 10:00:00,2.00\n"),
         {"missing customer_id": 1}),
    Case("text with commas, quotes and line breaks", csv(changed({0: {"Description": 'MUG, "LARGE"\nRED'}})), check=amounts_total(SLICE_TOTAL)),
    Case("a formula in a quarantined row", csv(changed({5: {"UnitPrice": "-1", "Description": "=HYPERLINK(\"http://x\")"}})),
         {"negative unit_price": 1}),
    Case("another file keeps its C-prefixed orders as purchases", csv(changed({0: {"InvoiceNo": "C536365"}}), name="mine.csv"),
         check=_returns(0)),
    Case("the named file's cancellations are returns", csv(changed({0: {"InvoiceNo": "C536365"}}), name="online_retail.csv.gz"),
         check=_returns(1)),
    Case("a day-first date format", csv(SLICE.assign(InvoiceDate=pd.to_datetime(SLICE["InvoiceDate"]).dt.strftime("%d/%m/%Y %H:%M"))),
         data={"timestamp_format": "%d/%m/%Y %H:%M"}, check=amounts_total(SLICE_TOTAL)),
    Case("a day-first date against the ISO default", csv(changed({3: {"InvoiceDate": "13/12/2010 10:00"}})), {"unparseable timestamp": 1}),
    Case("the amount column mapped instead", csv(SLICE.assign(Total=(SLICE["Quantity"].astype(float) * SLICE["UnitPrice"].astype(float)).astype(str))),
         data={"amount": "Total", "quantity": None, "unit_price": None}, check=amounts_total(SLICE_TOTAL)),
    Case("no order ids: lines at one moment are one order", csv(SLICE.drop(columns=["InvoiceNo"])), data={"order_id": None}),
    Case("a header only", raw_text(",".join(SLICE.columns) + "\n"), error="no valid transaction rows: transactions:"),
    Case("every row bad", csv(SLICE.assign(CustomerID="")), error="40 quarantined (missing customer_id 40); first: row 1, column 'CustomerID'"),
    Case("a mapped column the file lacks", csv(SLICE.drop(columns=["CustomerID"])),
         error="column 'CustomerID' (params data.transactions.customer_id) not found"),
    Case("a file that is not there", lambda folder: folder / "absent.csv", error="absent.csv: file not found"),
    Case("a spreadsheet file", raw_text(b"PK\x03\x04", name="orders.xlsx"), error="orders.xlsx: unsupported file type"),
    Case("a broken gzip", raw_text(b"not gzip at all", name="orders.csv.gz"), error="orders.csv.gz: cannot be read"),
    Case("an empty file", raw_text(b""), error="orders.csv: cannot be read"),
]


def params_for(path: Path, data: dict, parse: dict) -> config.Params:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"]["transactions"].update({"path": str(path), **data})
    raw["data"]["parse"].update(parse)
    return config.Params.model_validate(raw)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_kind_of_file_has_its_exact_outcome(case: Case, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    params = params_for(case.write(inputs), case.data, case.parse)
    if case.error:
        with pytest.raises(USER_ERRORS) as raised:
            ingest.run(params)
        assert case.error in str(raised.value)
        assert "\n" not in str(raised.value)
        assert not config.CLEAN_TRANSACTIONS.exists()
        return
    metrics = ingest.run(params)["transactions"]
    clean = pd.read_parquet(config.CLEAN_TRANSACTIONS)
    quarantine = pd.read_csv(config.QUARANTINE / "transactions.csv", dtype="string", keep_default_na=False)
    assert metrics["rows_in"] == metrics["rows_clean"] + metrics["rows_quarantined"]
    assert metrics["quarantined_by_reason"] == case.quarantined
    assert len(clean) == metrics["rows_clean"] and len(quarantine) == metrics["rows_quarantined"]
    assert sorted([*clean["source_row"], *quarantine["source_row"].astype(int)]) == list(range(1, metrics["rows_in"] + 1))
    assert not [path for path in tmp_path.rglob("*") if path.name.startswith(".")]  # no temporary or staged file left
    if case.check:
        case.check(clean, quarantine)


def test_a_formula_in_a_quarantined_row_is_escaped_for_spreadsheets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = csv(changed({5: {"UnitPrice": "-1", "Description": '=HYPERLINK("http://x")'}}))(tmp_path)
    ingest.run(params_for(path, {}, {}))
    quarantine = pd.read_csv(config.QUARANTINE / "transactions.csv", dtype="string")
    assert quarantine["Description"].iloc[0] == '\'=HYPERLINK("http://x")'


def test_the_corpus_covers_forty_kinds_of_file():
    assert len({case.name for case in CASES}) >= 40


@functools.cache
def a_tenth_of_the_year() -> pd.DataFrame:
    """The embedded year (2010-12-01 to 2011-12-09) for the customers whose ids end in 3."""
    year = pd.read_csv(EMBEDDED_TRANSACTIONS, dtype=str, keep_default_na=False)
    return year[year["CustomerID"].str.endswith("3")]


def features_after_ingest(tmp_path: Path, monkeypatch, frame: pd.DataFrame, score: dict) -> config.Params:
    monkeypatch.chdir(tmp_path)
    path = csv(frame)(tmp_path)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"]["transactions"]["path"] = str(path)
    raw["score"].update(score)
    params = config.Params.model_validate(raw)
    ingest.run(params)
    return params


@pytest.mark.parametrize(
    ("score", "message"),
    [
        ({"as_of": "2009-01-01"}, "score.as_of 2009-01-01 is not after the first transaction of"),
        ({"as_of": "2012-12-01"}, "more than a horizon (score.horizon_days 90): every customer would look lapsed"),
        ({"horizon_days": 180}, "it must begin by"),
    ],
)
def test_as_of_and_history_are_checked_before_any_work(tmp_path, monkeypatch, score, message):
    params = features_after_ingest(tmp_path, monkeypatch, a_tenth_of_the_year(), score)
    with pytest.raises(USER_ERRORS) as raised:
        featurize.run(params)
    assert message in str(raised.value)
    assert not config.TRAINING_SNAPSHOTS.exists()


def test_too_short_a_history_names_the_date_the_data_must_begin_by(tmp_path, monkeypatch):
    year = a_tenth_of_the_year()
    params = features_after_ingest(tmp_path, monkeypatch, year[year["InvoiceDate"] >= "2011-06-01"], {})
    with pytest.raises(USER_ERRORS, match=r"the data begins 2011-06-01, 191 days before as_of 2011-12-10; it must begin by 2011-05-14"):
        featurize.run(params)
