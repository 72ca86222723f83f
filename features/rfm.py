"""Recency, frequency, monetary, rhythm, returns and breadth of each customer at a cutoff.

Written once, as Ibis expressions over the clean transaction table, so the same definition
runs in DuckDB on one machine and on Spark for data that outgrows it. Every expression sees
only rows strictly before the cutoff. Feature definitions: docs/features.md.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

SECONDS_PER_DAY = 86_400.0
DAYS_PER_MONTH = 30.4375
# Money is summed as a decimal: a sum of floats depends on the order parallel workers add them in,
# so the same data gave features that differed in the last bits from run to run.
MONEY = "decimal(18, 4)"


def timestamp(value: dt.datetime) -> ir.TimestampScalar:
    return ibis.literal(value, type="timestamp")


def seconds_between(earlier: ir.TimestampValue, later: ir.TimestampValue) -> ir.IntegerValue:
    """Whole seconds from `earlier` to `later`: integers, so their sums are exact."""
    return later.epoch_seconds() - earlier.epoch_seconds()


def days_between(earlier: ir.TimestampValue, later: ir.TimestampValue) -> ir.FloatingValue:
    """Fractional days from `earlier` to `later`, computed the same way on every backend."""
    return seconds_between(earlier, later).cast("float64") / SECONDS_PER_DAY


def money_as_float(table: ir.Table) -> ir.Table:
    """The exact sums (decimal columns) as float64, once every sum is taken."""
    return table.mutate(**{name: table[name].cast("float64") for name, dtype in table.schema().items() if dtype.is_decimal()})


def ratio(numerator: ir.NumericValue, denominator: ir.NumericValue) -> ir.FloatingValue:
    """numerator / denominator, null where the denominator is 0: no trend without a base."""
    return ibis.ifelse(denominator == 0, ibis.null("float64"), numerator.cast("float64") / denominator)


def join_on_customer(left: ir.Table, right: ir.Table) -> ir.Table:
    """Left join on customer_id, keeping one customer_id column."""
    return left.left_join(right, "customer_id").drop("customer_id_right")


def purchase_orders(transactions: ir.Table) -> ir.Table:
    """One row per purchase in `transactions`: when, what it is worth, how many items and lines.

    An order is worth its lines less the return lines of `transactions` that take it back
    (`returned_order_id`, matched at ingest). An order returned in full (nothing left once its
    returns are netted) is no purchase; one with no returns is, whatever its value (a free item
    is still a visit that bought). Pass only the rows known at the moment in question (those
    before a cutoff, those of a label window): a later return is not known then.
    """
    lines = transactions.mutate(
        order_key=ibis.ifelse(transactions.is_return, transactions.returned_order_id, transactions.order_id)
    )
    lines = lines.filter(lines.order_key.notnull())
    bought = ~lines.is_return
    orders = lines.group_by(["customer_id", "order_key"]).aggregate(
        ordered_at=lines.timestamp.min(where=bought),
        order_value=lines.amount.cast(MONEY).sum(),
        order_items=lines.quantity.sum(where=bought),
        order_lines=lines.count(where=bought),
        returned=lines.is_return.any(),
    )
    # Returns of an order outside `transactions` have no purchase time: not a purchase here.
    kept = orders.ordered_at.notnull() & (~orders.returned | (orders.order_value > 0))
    return orders.filter(kept).drop("returned").rename(order_id="order_key")


def _window_aggregates(orders: ir.Table, cutoff: dt.datetime, windows_days: list[int]) -> dict[str, ir.Scalar]:
    """Orders and spend in each trailing window, and in the window of the same length before it."""
    aggregates = {}
    for days in windows_days:
        start, before = timestamp(cutoff - dt.timedelta(days=days)), timestamp(cutoff - dt.timedelta(days=2 * days))
        recent = orders.ordered_at >= start
        previous = (orders.ordered_at >= before) & (orders.ordered_at < start)
        aggregates[f"orders_{days}d"] = orders.order_value.count(where=recent)
        aggregates[f"spend_{days}d"] = orders.order_value.sum(where=recent).fill_null(0.0)
        aggregates[f"_orders_prev_{days}d"] = orders.order_value.count(where=previous)
        aggregates[f"_spend_prev_{days}d"] = orders.order_value.sum(where=previous).fill_null(0.0)
    return aggregates


def _in_sequence(orders: ir.Table) -> ir.Table:
    """Each order with its day, the customer's first purchase day and the whole days since the
    previous order's day: 0 within a day, so the positive gaps are exactly the gaps between
    purchase days."""
    by_time = ibis.window(group_by="customer_id", order_by="ordered_at")
    days = orders.mutate(day=orders.ordered_at.truncate("D"))
    return days.mutate(
        gap_days=seconds_between(days.day.lag().over(by_time), days.day) // int(SECONDS_PER_DAY),
        first_day=days.day.first().over(by_time),
    )


def _rhythm_aggregates(orders: ir.Table) -> dict[str, ir.Scalar]:
    """Purchase days and the gaps between them, from the orders `_in_sequence`: aggregated with the
    other per-customer features, so the orders are neither grouped a second time by day nor kept
    in memory for a second pass (together 2.8x the time at 50 M rows, benchmarks/feature_engines.py)."""
    new_day = orders.gap_days > 0
    gaps = orders.gap_days.count(where=new_day)
    total = orders.gap_days.sum(where=new_day)
    # The variance from integer sums, not a running float update: exact, so the same in any order
    # the workers add rows in.
    squares = (orders.gap_days * orders.gap_days).sum(where=new_day)
    return {
        "purchase_days": gaps + 1,
        "mean_gap_days": ratio(total, gaps),
        "std_gap_days": ratio(gaps * squares - total * total, gaps * (gaps - 1)).sqrt(),
        "last_gap_days": orders.gap_days.argmax(orders.ordered_at, where=new_day).cast("float64"),
        "first_day_spend": orders.order_value.sum(where=orders.day == orders.first_day),
    }


def product_breadth(purchased: ir.Table) -> ir.Table:
    """Per customer: distinct products, and the share of them bought in more than one order."""
    lines = purchased.filter(purchased["product"].notnull())
    # Two different order ids are "more than one order": min/max is that test without a distinct count.
    per_product = lines.group_by(["customer_id", "product"]).aggregate(
        repeated=lines.order_id.min() != lines.order_id.max()
    )
    return per_product.group_by("customer_id").aggregate(
        distinct_products=per_product.count(),
        repeat_products=per_product.repeated.sum(),
    )


def rfm_features(transactions: ir.Table, cutoff: dt.datetime, windows_days: list[int]) -> ir.Table:
    """Per customer with a purchase before `cutoff`: the transaction features of docs/features.md."""
    at = timestamp(cutoff)
    history = transactions.filter(transactions.timestamp < at)
    orders = _in_sequence(purchase_orders(history))
    per_customer = orders.group_by("customer_id").aggregate(
        first_purchase=orders.ordered_at.min(),
        last_purchase=orders.ordered_at.max(),
        orders=orders.count(),
        spend=orders.order_value.sum(),
        mean_order_value=orders.order_value.mean(),
        max_order_value=orders.order_value.max(),
        mean_basket_items=orders.order_items.mean(),
        mean_basket_lines=orders.order_lines.mean(),
        **_window_aggregates(orders, cutoff, windows_days),
        **_rhythm_aggregates(orders),
    )
    returns = history.filter(history.is_return)
    per_customer_returns = returns.group_by("customer_id").aggregate(
        return_orders=returns.order_id.nunique(),
        returns_value=-returns.amount.cast(MONEY).sum(),
        # Returns of orders older than the data take back nothing `spend` holds, but are money paid back.
        unmatched_returns_value=-returns.amount.cast(MONEY).sum(where=returns.returned_order_id.isnull()),
    )
    joined = per_customer
    for block in (per_customer_returns, product_breadth(history.filter(~history.is_return))):
        joined = join_on_customer(joined, block)

    recency = days_between(joined.last_purchase, at)
    tenure = days_between(joined.first_purchase, at)
    # Rates per month of tenure (at least one month) read alike for a customer of three months and
    # one of three years: counts and sums grow with age, beyond any age the training rows reach.
    months = ibis.greatest(tenure, DAYS_PER_MONTH) / DAYS_PER_MONTH
    return_orders = joined.return_orders.fill_null(0)
    returns_value = joined.returns_value.fill_null(0.0)
    distinct_products = joined.distinct_products.fill_null(0)
    trends = {}
    for days in windows_days:
        trends[f"orders_trend_{days}d"] = ratio(joined[f"orders_{days}d"], joined[f"_orders_prev_{days}d"])
        trends[f"spend_trend_{days}d"] = ratio(joined[f"spend_{days}d"], joined[f"_spend_prev_{days}d"])
    features = joined.mutate(
        recency_days=recency,
        tenure_days=tenure,
        orders_per_month=joined.orders.cast("float64") / months,
        spend_per_month=joined.spend.cast("float64") / months,
        # Every purchase and return line before T: `spend` less what was paid back for orders it does not hold.
        net_spend=joined.spend - joined.unmatched_returns_value.fill_null(0),
        # The mean spend of the purchase days after the first: what Gamma-Gamma models.
        mean_repeat_day_spend=ratio(joined.spend - joined.first_day_spend, joined.purchase_days - 1),
        overdue_ratio=ratio(recency, joined.mean_gap_days),
        return_orders=return_orders,
        returns_value=returns_value,
        return_share=return_orders.cast("float64") / (joined.orders + return_orders),
        distinct_products=distinct_products,
        repeat_product_share=ratio(joined.repeat_products.fill_null(0), distinct_products),
        multi_product=(distinct_products > 1).cast("int8"),
        **trends,
    )
    hidden = [name for name in features.columns if name.startswith("_")]
    return money_as_float(features.drop("first_purchase", "last_purchase", "repeat_products", "first_day_spend", "unmatched_returns_value", *hidden))
