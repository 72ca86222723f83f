from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from features.sources import clean_source, transaction_lines
from pipeline.config import CampaignSource, CustomersSource, EventsSource, FileCleaning, SubscriptionsSource, SurveysSource, TransactionsSource
from pipeline.files import InputError, read_raw_table, require_columns
from tests.conftest import default_parsing

PARSING = default_parsing()

HEADER = "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
ROWS = [
    "1001,A,2,2011-01-05 10:00:00,3.50,17850,UK",  # 1 good
    "1001,B,1,2011-01-05 10:00:00,10.00,17850,UK",  # 2 good, same order
    "1002,A,1,2011-01-06 09:00:00,3.50,,UK",  # 3 no customer
    "1003,A,1,2011-13-45 09:00:00,3.50,17851,UK",  # 4 impossible date
    "1004,A,two,2011-01-07 09:00:00,3.50,17851,UK",  # 5 quantity is text
    "1005,A,1,2011-01-08 09:00:00,-3.50,17851,UK",  # 6 negative price
    "1006,POST,1,2011-01-08 09:00:00,18.00,17851,UK",  # 7 postage, not a product
    "1001,A,2,2011-01-05 10:00:00,3.50,17850,UK",  # 8 exact duplicate of row 1
    "C1007,A,-1,2011-01-09 09:00:00,3.50,17850,UK",  # 9 cancellation
    "1008,B,-2,2011-01-10 09:00:00,10.00,17851,UK",  # 10 negative quantity without the marker
    "1009,A,1,2011-01-11 09:00:00,0.00,17851,UK",  # 11 free item: kept, worth 0
    "1010,A,3,2011-01-12 09:00:00,2.00,   ,UK",  # 12 customer id of blanks
]
SOURCE = TransactionsSource(
    path="retail.csv",
    customer_id="CustomerID",
    timestamp="InvoiceDate",
    quantity="Quantity",
    unit_price="UnitPrice",
    order_id="InvoiceNo",
    product="StockCode",
    cleaning={"retail.csv": FileCleaning(cancel_prefix="C", exclude_products=["POST"])},
    drop_duplicates=True,
)


@pytest.fixture
def raw(tmp_path: Path) -> pd.DataFrame:
    path = tmp_path / "retail.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n")
    return read_raw_table(path)


@pytest.fixture
def ingested(raw):
    return clean_source("transactions", raw, SOURCE, PARSING)


def test_every_row_is_clean_or_quarantined_exactly_once(raw, ingested):
    clean_rows = set(ingested.clean["source_row"])
    quarantined_rows = set(ingested.quarantine["source_row"])
    assert clean_rows.isdisjoint(quarantined_rows)
    assert clean_rows | quarantined_rows == set(range(1, len(raw.frame) + 1))
    assert ingested.summary["rows_in"] == ingested.summary["rows_clean"] + ingested.summary["rows_quarantined"] == 12


def test_bad_rows_are_quarantined_with_their_reason_column_and_value(ingested):
    by_row = ingested.quarantine.set_index("source_row")
    assert by_row.loc[3, "reason"] == "missing customer_id"
    assert by_row.loc[12, "reason"] == "missing customer_id"
    assert (by_row.loc[4, "reason"], by_row.loc[4, "column"], by_row.loc[4, "value"]) == (
        "unparseable timestamp", "InvoiceDate", "2011-13-45 09:00:00",
    )
    assert (by_row.loc[5, "reason"], by_row.loc[5, "column"], by_row.loc[5, "value"]) == ("unparseable quantity", "Quantity", "two")
    assert by_row.loc[6, "reason"] == "negative unit_price"
    assert (by_row.loc[7, "reason"], by_row.loc[7, "value"]) == ("excluded product", "POST")
    assert by_row.loc[8, "reason"] == "duplicate row"
    assert set(by_row.index) == {3, 4, 5, 6, 7, 8, 12}


def test_quarantine_keeps_the_original_row_and_file(ingested):
    row = ingested.quarantine.set_index("source_row").loc[5]
    assert row["source_file"] == "retail.csv"
    assert (row["InvoiceNo"], row["Quantity"], row["CustomerID"]) == ("1004", "two", "17851")


def test_summary_counts_each_row_once_by_its_first_reason(ingested):
    assert ingested.summary["quarantined_by_reason"] == {
        "duplicate row": 1,
        "excluded product": 1,
        "missing customer_id": 2,
        "negative unit_price": 1,
        "unparseable quantity": 1,
        "unparseable timestamp": 1,
    }


def test_returns_are_kept_and_netted(ingested):
    clean = ingested.clean.set_index("source_row")
    assert clean.loc[9, "is_return"] and clean.loc[9, "amount"] == pytest.approx(-3.5)
    assert clean.loc[10, "is_return"] and clean.loc[10, "amount"] == pytest.approx(-20.0)
    assert not clean.loc[11, "is_return"] and clean.loc[11, "amount"] == 0.0
    assert ingested.summary["gross_sales"] == pytest.approx(7.0 + 10.0 + 0.0)
    assert ingested.summary["returns_value"] == pytest.approx(23.5)
    assert ingested.summary["purchase_orders"] == 2  # orders 1001 and 1009
    assert ingested.summary["return_orders"] == 2


def test_clean_table_has_the_documented_columns_and_types(ingested):
    clean = ingested.clean
    assert list(clean.columns) == ["customer_id", "timestamp", "order_id", "product", "quantity", "amount", "is_return", "returned_order_id", "source_row"]
    assert str(clean["timestamp"].dtype) == "datetime64[us]"
    assert clean["customer_id"].tolist() == sorted(clean["customer_id"].tolist())


def test_without_order_ids_lines_at_one_moment_are_one_order(tmp_path):
    path = tmp_path / "cdnow.csv"
    path.write_text("customer_id,date,number_of_cds,dollar_value\n00002,1997-01-12,1,12.0\n00002,1997-01-12,5,77.0\n00002,1997-03-01,1,9.0\n")
    source = TransactionsSource(path=str(path), customer_id="customer_id", timestamp="date", amount="dollar_value", quantity="number_of_cds", drop_duplicates=True)
    clean = clean_source("transactions", read_raw_table(path), source, PARSING).clean
    assert clean["customer_id"].tolist() == ["00002"] * 3  # leading zeros survive
    assert clean["order_id"].nunique() == 2
    assert clean["amount"].sum() == pytest.approx(98.0)


def test_timestamp_format_is_honoured(tmp_path):
    path = tmp_path / "dayfirst.csv"
    path.write_text("cust,when,value\na,03/02/2021 10:00,5\nb,31/12/2021 08:30,7\nc,2021-12-31,1\n")
    source = TransactionsSource(path=str(path), customer_id="cust", timestamp="when", amount="value", timestamp_format="%d/%m/%Y %H:%M", drop_duplicates=True)
    result = clean_source("transactions", read_raw_table(path), source, PARSING)
    assert result.clean.set_index("customer_id")["timestamp"]["a"] == pd.Timestamp("2021-02-03 10:00")
    assert result.quarantine["reason"].tolist() == ["unparseable timestamp"]


def test_missing_amount_is_quarantined_when_amount_is_the_value_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("c,t,v\na,2021-01-01,\nb,2021-01-02,abc\n")
    source = TransactionsSource(path=str(path), customer_id="c", timestamp="t", amount="v", drop_duplicates=True)
    result = clean_source("transactions", read_raw_table(path), source, PARSING)
    assert result.quarantine["reason"].tolist() == ["missing amount", "unparseable amount"]
    assert result.clean.empty


def test_events_are_validated_and_named(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("account_id,event_time,event_type_id,event_value\n1,2020-01-01 10:00:00,0,\n1,2020-01-02 10:00:00,2,3\n,2020-01-02 10:00:00,2,\n2,yesterday,1,\n")
    source = EventsSource(path=str(path), customer_id="account_id", timestamp="event_time", event_type="event_type_id",
                          value="event_value", event_type_names={"0": "post", "2": "like"}, drop_duplicates=False)
    result = clean_source("events", read_raw_table(path), source, PARSING)
    assert result.clean["event_type"].tolist() == ["post", "like"]
    assert result.clean["value"].tolist() == [1.0, 3.0]
    assert result.quarantine["reason"].tolist() == ["missing customer_id", "unparseable timestamp"]


def test_a_missing_mapped_column_names_file_column_and_param(raw):
    broken = raw.frame.drop(columns=["UnitPrice"])
    with pytest.raises(InputError, match=r"retail\.csv: column 'UnitPrice' \(params data\.transactions\.unit_price\) not found"):
        require_columns(broken, SOURCE.mapped_columns, "retail.csv", "data.transactions")


def test_an_unreadable_file_names_the_file(tmp_path):
    corrupt = tmp_path / "corrupt.csv.gz"
    corrupt.write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match=r"corrupt\.csv\.gz: cannot be read"):
        read_raw_table(corrupt)
    with pytest.raises(InputError, match=r"absent\.csv: file not found"):
        read_raw_table(tmp_path / "absent.csv")
    with pytest.raises(InputError, match=r"data\.xlsx: unsupported file type"):
        (tmp_path / "data.xlsx").write_bytes(b"")
        read_raw_table(tmp_path / "data.xlsx")


def test_parquet_and_gzip_inputs_read_as_text(tmp_path):
    frame = pd.DataFrame({"c": ["1", "2"], "t": ["2021-01-01", "2021-01-02"], "v": [1.5, 2.0]})
    frame.to_parquet(tmp_path / "t.parquet")
    with gzip.open(tmp_path / "t.csv.gz", "wt") as handle:
        frame.to_csv(handle, index=False)
    for name in ("t.parquet", "t.csv.gz"):
        raw = read_raw_table(tmp_path / name).frame
        assert all(str(dtype) == "string" for dtype in raw.dtypes)
        assert raw["v"].tolist() == ["1.5", "2.0"]


def test_subscriptions_keep_open_periods_and_quarantine_bad_ones(tmp_path):
    path = tmp_path / "subs.csv"
    path.write_text(
        "account_id,product,start_date,end_date,mrr,discount\n"
        "1,basic,2020-01-11,2020-02-11,10.0,\n"
        "1,pro,2020-02-11,,20.0,0.1\n"
        "2,basic,,2020-02-11,10.0,\n"
        "3,basic,2020-01-11,2020-02-11,-5,\n"
    )
    source = SubscriptionsSource(path=str(path), customer_id="account_id", start="start_date", end="end_date",
                                 plan="product", price="mrr", discount="discount")
    result = clean_source("subscriptions", read_raw_table(path), source, PARSING)
    assert result.quarantine["reason"].tolist() == ["missing start", "negative price"]
    clean = result.clean
    assert clean["plan"].tolist() == ["basic", "pro"] and pd.isna(clean["end"].iloc[1])
    assert clean["discount"].tolist() == [0.0, 0.1]


def test_customers_are_one_row_each_with_prefixed_attributes(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("id,channel,country\n1,web,CN\n2,appstore2,\n1,web,RU\n")
    source = CustomersSource(path=str(path), customer_id="id", attributes=["channel", "country"])
    result = clean_source("customers", read_raw_table(path), source, PARSING)
    assert list(result.clean.columns) == ["customer_id", "customer_channel", "customer_country", "source_row"]
    assert result.clean["customer_id"].tolist() == ["1", "2"]
    assert result.quarantine[["source_row", "reason"]].values.tolist() == [[3, "duplicate customer_id"]]


def test_an_attribute_is_a_number_where_every_value_is_one_else_text(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("id,recency,history,zip\n1,6,85.37,01234\n2,7,1e400,Urban\n3,,78.78,\n")
    source = CustomersSource(path=str(path), customer_id="id", attributes=["recency", "history", "zip"])
    result = clean_source("customers", read_raw_table(path), source, PARSING)
    clean = result.clean
    assert clean["customer_recency"].dtype == "float64" and clean["customer_recency"].isna().tolist() == [False, True]
    assert clean["customer_history"].tolist() == [85.37, 78.78]  # a number too large for one: out of range
    assert result.quarantine[["source_row", "reason"]].values.tolist() == [[2, "out of range history"]]
    assert clean["customer_zip"].dtype == "string" and clean["customer_zip"].tolist()[0] == "01234"  # text: leading zeros kept


def test_a_campaign_is_one_row_per_customer_with_its_arm_and_outcomes(tmp_path):
    path = tmp_path / "campaign.csv"
    path.write_text("id,segment,visit,spend\n1,Mens E-Mail,1,0\n2,No E-Mail,0,\n1,No E-Mail,0,0\n3,,1,0\n4,Womens E-Mail,yes,0\n5,No E-Mail,0,29.99\n")
    source = CampaignSource(path=str(path), customer_id="id", arm="segment", control="No E-Mail", outcomes=["visit", "spend"])
    result = clean_source("campaign", read_raw_table(path), source, PARSING)
    assert result.clean[["customer_id", "arm", "visit", "spend"]].values.tolist() == [["1", "Mens E-Mail", 1.0, 0.0], ["5", "No E-Mail", 0.0, 29.99]]
    assert result.quarantine[["source_row", "reason"]].values.tolist() == [
        [2, "missing spend"], [3, "duplicate customer_id"], [4, "missing arm"], [5, "unparseable visit"]]
    assert result.summary["arms"] == {"Mens E-Mail": 1, "No E-Mail": 1}
    # A control arm named like a null token is the control; the token still means "no value" elsewhere.
    path.write_text("id,segment,visit\n1,None,0\n2,e-mail,None\n")
    named_none = clean_source("campaign", read_raw_table(path), CampaignSource(path=str(path), customer_id="id", arm="segment", control="None", outcomes=["visit"]), PARSING)
    assert named_none.clean["arm"].tolist() == ["None"] and named_none.quarantine["reason"].tolist() == ["missing visit"]


def test_survey_scores_outside_0_to_10_are_quarantined(tmp_path):
    path = tmp_path / "nps.csv"
    path.write_text("id,answered,likely\n1,2021-01-01,10\n2,2021-01-02,11\n3,2021-01-03,-1\n4,2021-01-04,seven\n5,2021-01-05,0\n")
    source = SurveysSource(path=str(path), customer_id="id", timestamp="answered", score="likely")
    result = clean_source("surveys", read_raw_table(path), source, PARSING)
    assert result.clean["score"].tolist() == [10.0, 0.0]
    assert result.quarantine["reason"].tolist() == ["out of range score", "negative score", "unparseable score"]
    assert result.quarantine["source_row"].tolist() == [2, 3, 4]


def test_each_return_is_matched_to_the_latest_earlier_order_of_its_product(ingested):
    clean = ingested.clean.set_index("source_row")
    assert clean.loc[9, "returned_order_id"] == "1001"  # 17850 bought A in order 1001
    assert pd.isna(clean.loc[10, "returned_order_id"])  # 17851 bought no B before: an order older than the data
    assert clean.loc[[1, 2, 11], "returned_order_id"].isna().all()  # purchases take nothing back


def test_a_return_without_a_product_takes_back_the_latest_earlier_order():
    lines = pd.DataFrame({
        "customer_id": pd.Series(["c", "c", "c", "c"], dtype="string"),
        "timestamp": pd.to_datetime(["2021-01-01", "2021-01-05", "2021-01-06", "2021-01-07"]),
        "order_id": pd.Series(["o1", "o2", "r1", "o3"], dtype="string"),
        "product": pd.Series([pd.NA] * 4, dtype="string"),
        "is_return": [False, False, True, False],
    })
    assert transaction_lines(lines)["returned_order_id"].tolist() == [pd.NA, pd.NA, "o2", pd.NA]


def test_an_order_id_reused_after_a_day_is_a_new_order_and_its_return_takes_back_the_new_one():
    lines = pd.DataFrame({
        "customer_id": pd.Series(["c"] * 5 + ["d"], dtype="string"),
        "timestamp": pd.to_datetime(["2021-01-01 10:00", "2021-01-01 10:05", "2021-03-01 09:00", "2021-03-02 00:00", "2021-05-01 00:00", "2021-03-01 00:00"]),
        "order_id": pd.Series(["o1", "o1", "o1", "r1", "o1", "o1"], dtype="string"),
        "product": pd.Series(["A"] * 6, dtype="string"),
        "is_return": [False, False, False, True, False, False],
    })
    finished = transaction_lines(lines)
    assert finished["order_id"].tolist() == ["o1", "o1", "o1#2", "r1", "o1#3", "o1"]  # another customer's o1 is theirs
    assert finished["returned_order_id"].tolist() == [pd.NA, pd.NA, pd.NA, "o1#2", pd.NA, pd.NA]
