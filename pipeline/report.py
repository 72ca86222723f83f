"""Stage `report`: outputs/report.html, one self-contained page for the marketing team.

Charts are PNG images inside the file (base64), the styles inline: the page opens from an
e-mail attachment or a shared drive, with no network and no scripts.
"""

from __future__ import annotations

import base64
import html
import io
import json
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # figures straight to files: no pyplot state, no display, no backend to set

from models.metrics import gains_points
from pipeline import config, files

CHARTS = ("kpi_trends", "order_value", "cohorts", "risk_distribution", "segments")
STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; } td, th { padding: 0.3em 0.8em; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; } .note { color: #666; font-size: 0.9em; }
.figures { display: flex; flex-wrap: wrap; gap: 1.5em; } .figure { font-size: 1.4em; } img { max-width: 100%; }
"""


def _image(figure, name: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="chart" id="{name}" alt="{name}" src="data:image/png;base64,{encoded}">'


def _table(frame: pd.DataFrame, formats: dict[str, str]) -> str:
    head = "".join(f"<th>{html.escape(str(column))}</th>" for column in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = [format(value, formats.get(column, "")) if isinstance(value, (int, float, np.number)) else html.escape(str(value))
                 for column, value in zip(frame.columns, record, strict=True)]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def kpi_charts(kpis: pd.DataFrame, cohorts: pd.DataFrame) -> dict[str, str]:
    figure = Figure(figsize=(8, 3.5))
    axis = figure.subplots()
    for column, label in (("retention_rate", "retention rate"), ("churn_rate", "churn rate"), ("repeat_purchase_rate", "repeat-purchase rate")):
        axis.plot(kpis["period"], kpis[column], marker="o", label=label)
    axis.set(ylabel="%", title="Retention by month")
    axis.legend()
    axis.tick_params(axis="x", rotation=45)
    charts = {"kpi_trends": _image(figure, "kpi_trends")}

    figure = Figure(figsize=(8, 3.5))
    axis = figure.subplots()
    axis.plot(kpis["period"], kpis["average_order_value"], marker="o", label="average order value")
    axis.plot(kpis["period"], kpis["sales_per_customer"], marker="o", label="sales per customer")
    axis.set(title="Order value by month")
    axis.legend()
    axis.tick_params(axis="x", rotation=45)
    charts["order_value"] = _image(figure, "order_value")

    matrix = cohorts.set_index("cohort").astype(float)
    figure = Figure(figsize=(8, 0.35 * len(matrix) + 1.5))
    axis = figure.subplots()
    shown = axis.imshow(matrix.to_numpy(), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    axis.set(xticks=range(matrix.shape[1]), xticklabels=matrix.columns, yticks=range(len(matrix)), yticklabels=matrix.index,
             xlabel="months since first purchase", title="Share of each month's new customers who bought again")
    for (row, column), value in np.ndenumerate(matrix.to_numpy()):
        if np.isfinite(value) and column > 0:
            axis.text(column, row, f"{value:.0%}", ha="center", va="center", fontsize=7, color="white" if value > 0.5 else "black")
    figure.colorbar(shown, ax=axis)
    charts["cohorts"] = _image(figure, "cohorts")
    return charts


def customer_charts(customers: pd.DataFrame) -> tuple[dict[str, str], pd.DataFrame]:
    figure = Figure(figsize=(8, 3))
    axis = figure.subplots()
    axis.hist(customers["churn_probability"], bins=20, range=(0, 1), color="#c0504d")
    axis.set(xlabel="churn probability", ylabel="customers", title="How many customers at each level of risk")
    charts = {"risk_distribution": _image(figure, "risk_distribution")}

    segments = customers.groupby("rfm_segment").agg(
        customers=("customer_id", "size"), value_at_risk=("value_at_risk", "sum"), mean_churn_probability=("churn_probability", "mean"),
    ).sort_values("value_at_risk", ascending=False).reset_index()
    figure = Figure(figsize=(8, 3.5))
    axis = figure.subplots()
    axis.barh(segments["rfm_segment"][::-1], segments["value_at_risk"][::-1], color="#4f81bd")
    axis.set(xlabel="value at risk", title="Value at risk by segment")
    charts["segments"] = _image(figure, "segments")
    return charts, segments


def share_of_leavers_in_top_tenth(backtest: pd.DataFrame) -> float:
    """Of the customers who left, the share the model ranked in its top 10% (backtest, every fold)."""
    gains = gains_points(backtest["churned"].to_numpy(), backtest["model"].to_numpy())
    return float(np.interp(0.10, gains["contacted_share"], gains["positives_share"]))


METRIC_NAMES = {"roc_auc": "ROC AUC", "pr_auc": "PR AUC", "top_decile_lift": "top-decile lift", "brier": "Brier score", "log_loss": "log loss"}


def _stability_words(psi: float) -> str:
    return "stable" if psi < 0.1 else "worth a look" if psi < 0.25 else "shifted"


def baseline_table(churn: dict) -> str:
    """The churn model against each classic baseline on the same customers: each one's ROC AUC and the paired difference."""
    rows = [
        (method, churn["backtest"][method]["roc_auc"]["mean"], paired["roc_auc"]["advantage"], paired["roc_auc"]["low"], paired["roc_auc"]["high"])
        for method, paired in churn.get("model_advantage", {}).items()
    ]
    if not rows:
        return ""
    frame = pd.DataFrame(rows, columns=["classic method", "its ROC AUC", "model ahead by", "low (2.5%)", "high (97.5%)"])
    return (_table(frame, {"its ROC AUC": ".3f", "model ahead by": "+.3f", "low (2.5%)": "+.3f", "high (97.5%)": "+.3f"})
            + '<p class="note">Intervals: 95%, from resampling the customers of the backtest (the same draws for the model and each method).</p>')


def health_section(drift: dict | None, decision: dict | None) -> str:
    """Drift of today's customers from the model's training data; the last retraining decision, if given."""
    parts = ["<h2>Is the model still fit for today's customers?</h2>"]
    if drift and drift.get("checked"):
        moved = pd.Series(drift["psi"]).drop("churn_probability", errors="ignore").nlargest(5)
        parts.append(
            f"<p>Population stability index of the churn scores, today's customers against those the model was trained on: "
            f"<b>{drift['score_psi']:.2f}</b> ({_stability_words(drift['score_psi'])}; below 0.1 is stable, above 0.25 shifted). "
            f"The features that moved most:</p>"
        )
        parts.append(_table(pd.DataFrame({"feature": moved.index, "PSI": moved.to_numpy(), "reading": [_stability_words(v) for v in moved]}), {"PSI": ".2f"}))
    else:
        parts.append('<p class="note">No drift check: the model was saved without its training profile.</p>')
    if decision:
        window = decision["window"]
        parts.append(
            f"<p>Last retraining, judged on the latest customers whose outcome is known ({window['cutoff']}, {window['customers']:,} customers); "
            f"each model is replaced only when the new one is better beyond what the draw of customers explains "
            f"(reports/retrain/decision.md says exactly what was compared):</p>"
        )
        rows = []
        for name, label in (("churn", "churn model"), ("clv", "value model")):
            judged = decision[name]
            champion = judged.get("champion")
            rows.append((label, judged["decision"], METRIC_NAMES.get(judged["metric"], judged["metric"]), judged["challenger"]["window"][judged["metric"]],
                         np.nan if champion is None else champion["window"][judged["metric"]], judged["reason"]))
        parts.append(_table(pd.DataFrame(rows, columns=["model", "decision", "measured by", "new model", "model in service before", "why"]),
                            {"new model": ".3f", "model in service before": ".3f"}))
    return "\n".join(parts)


def outcome_section(outcomes: dict | None) -> str:
    """How the list built one horizon ago would have done, in words and a table."""
    if not outcomes:
        return ""
    cutoff, days = outcomes["latest"], outcomes["horizon_days"]
    figures = outcomes["folds"][cutoff]
    churn, spend, risk, campaign = figures["churn"], figures["spend"], figures["value_at_risk"], figures["campaign"]
    rows = pd.DataFrame(
        [
            ("this list's selection (the control group left out)", campaign["realised_profit"]),
            ("the same number with the highest churn probabilities", campaign["top_churn_probability_realised_profit"]),
            ("the same number at random", campaign["random_realised_profit"]),
        ],
        columns=["who would have been contacted", "realised profit"],
    )
    return f"""<h2>How the list built on {cutoff} would have done</h2>
<p>The list was rebuilt as it would have been on {cutoff}, by models trained only on what was known then, and set against what
its {figures['customers']:,} customers did in the {days} days after. It expected <b>{churn['mean_probability']:.0%}</b> of them to leave;
<b>{churn['observed_rate']:.0%}</b> did (the probabilities were off by {churn['calibration_error']:.1%} on average, over ten groups of customers).
It expected them to spend <b>{spend['predicted']:,.0f}</b>; they spent <b>{spend['actual']:,.0f}</b>.
It put the value at risk at <b>{risk['expected_loss']:,.0f}</b>; the customers who did leave had been expected to bring
<b>{risk['leavers_expected_value']:,.0f}</b> by staying.</p>
{_table(rows, {"realised profit": ",.0f"})}
{_pooled_lead(outcomes)}
<p class="note">Realised profit: the campaign's figures (budget, costs, margin, how often an offer keeps a leaver) applied to who actually left.
Each backtest cutoff's figures are in reports/metrics/outcomes.json.</p>"""


def _pooled_lead(outcomes: dict) -> str:
    """The list's realised lead over the riskiest and over random, over every backtest cutoff, with 95% intervals."""
    intervals = outcomes.get("pooled_intervals")
    if not intervals:
        return ""
    top, random = intervals["campaign.lead_over_top_churn_probability"], intervals["campaign.lead_over_random"]
    return (f"<p>Over all {len(outcomes['folds'])} backtest cutoffs the lists' selections realised <b>{top['estimate']:+,.0f}</b> against the "
            f"same numbers with the highest churn probabilities (95% interval {top['low']:+,.0f} to {top['high']:+,.0f}) and "
            f"<b>{random['estimate']:+,.0f}</b> against the same numbers at random ({random['low']:+,.0f} to {random['high']:+,.0f}).</p>")


def readback_section(read_backs: list[dict]) -> str:
    """Each published list read back (`churn readback`): its contacted customers against its control group."""
    if not read_backs:
        return ""
    rows = pd.DataFrame(
        [(record["as_of"], record["contacted"], record["control"], f"{record['days_observed']} of {record['horizon_days']}", outcome,
          figures["effect"], f"{figures['low']:+.4f} to {figures['high']:+.4f}")
         for record in read_backs for outcome, figures in record["effects"].items()],
        columns=["list of", "contacted", "control", "days seen", "outcome", "difference", "95% interval"],
    )
    return f"""
<h2>Earlier lists read back</h2>
<p>Each list's contacted customers against its control group, in the horizon after the list's date (<code>churn readback</code>, <code>reports/readback/</code>):</p>
{_table(rows, {"contacted": ",.0f", "control": ",.0f", "difference": "+.4f"})}
"""


def uplift_section(metrics: dict | None) -> str:
    """A past campaign read back arm by arm, and how well ranking by uplift targeted its held-out customers."""
    if not metrics or not metrics.get("campaign"):
        return ""
    read_back = metrics["campaign"]
    effects = pd.DataFrame(
        [(arm, outcome, f["treated_mean"], f["control_mean"], f["effect"], f"{f['low']:+.4f} to {f['high']:+.4f}")
         for arm, by_outcome in read_back["effects"].items() for outcome, f in by_outcome.items()],
        columns=["arm", "outcome", "arm's mean", "control's mean", "difference", "95% interval"],
    )
    outcome = metrics["outcome"]
    rankings = pd.DataFrame(
        [(arm, ranking, f["uplift_at"]["0.1"], f["uplift_at"]["0.3"], f["uplift_at"]["0.5"], f["qini"], f["random"])
         for arm, by_ranking in metrics["evaluation"][outcome].items() for ranking, f in by_ranking.items()],
        columns=["arm", "ranked by", "uplift in the top 10%", "top 30%", "top 50%", "Qini coefficient", "at random"],
    )
    numbers = {column: "+.4f" for column in ("arm's mean", "control's mean", "difference", "uplift in the top 10%", "top 30%", "top 50%", "at random")}
    return f"""
<h2>What the last campaign changed</h2>
<p>{read_back['customers']:,} customers were split at random between {len(read_back['arms'])} arms, {html.escape(str(read_back['control']))} getting no contact.
Each arm against the control (outcomes as recorded after the send):</p>
{_table(effects, numbers)}
<p>Uplift models learnt who each arm changes. On {metrics['held_out_share']:.0%} of the campaign's customers held out from learning, the
difference in <b>{html.escape(outcome)}</b> between contacted and control customers among the top of each ranking (random targeting gets the arm's average effect):</p>
{_table(rankings, numbers | {"Qini coefficient": "+.5f"})}
<p class="note">Every customer's expected change per arm, and the incremental profit after the contact's cost: <code>outputs/uplift_scores.csv</code> (docs/uplift.md).</p>
"""


@dataclass(frozen=True)
class ReportInputs:
    """Everything the page shows, read by `run` (or given by `churn retrain`: the serving models' evaluation)."""

    kpis: pd.DataFrame
    cohorts: pd.DataFrame
    customers: pd.DataFrame  # the scored list
    churn: dict  # reports/metrics/churn.json
    value: dict  # reports/metrics/clv.json
    campaign: dict  # reports/metrics/campaign.json
    churn_backtest: pd.DataFrame
    horizon_days: int
    drift: dict | None = None
    decision: dict | None = None  # the last retraining decision
    outcomes: dict | None = None
    uplift: dict | None = None
    read_backs: tuple[dict, ...] = ()


PAGE = string.Template((Path(__file__).parent / "templates" / "report.html").read_text(encoding="utf-8"))


def glance_section(kpis: pd.DataFrame, charts: dict[str, str]) -> str:
    """The latest period's KPIs, their trends, and the cohorts."""
    latest = kpis.iloc[-1]
    return f"""<h2>Retention at a glance ({html.escape(str(latest['period']))})</h2>
<div class="figures">
<div class="figure">{latest['retention_rate']:.1f}%<br><span class="note">retention rate</span></div>
<div class="figure">{latest['churn_rate']:.1f}%<br><span class="note">churn rate</span></div>
<div class="figure">{latest['repeat_purchase_rate']:.1f}%<br><span class="note">repeat-purchase rate</span></div>
<div class="figure">{latest['average_order_value']:,.2f}<br><span class="note">average order value</span></div>
<div class="figure">{latest['simple_clv']:,.0f}<br><span class="note">simple CLV</span></div>
</div>
{charts['kpi_trends']}
{charts['order_value']}
<h2>Do new customers come back?</h2>
{charts['cohorts']}"""


def risk_section(customers: pd.DataFrame, segments: pd.DataFrame, charts: dict[str, str], horizon_days: int) -> str:
    """How many customers at each level of risk, and the value at risk by segment."""
    bands = customers["churn_risk_band"].value_counts().reindex(["high", "medium", "low"], fill_value=0)
    return f"""<h2>Who is at risk</h2>
<p>{len(customers):,} current customers: {bands['high']:,} at high risk of buying nothing in the next {horizon_days} days, {bands['medium']:,} at medium risk, {bands['low']:,} at low.</p>
{charts['risk_distribution']}
{charts['segments']}
{_table(segments, {"customers": ",.0f", "value_at_risk": ",.0f", "mean_churn_probability": ".2f"})}"""


def trust_section(churn: dict, value: dict, churn_backtest: pd.DataFrame) -> str:
    """The backtest in words: the leavers the top tenth holds, the ranking, the spend; then the baselines."""
    auc = churn["backtest"]["model"]["roc_auc"]
    top_spend = value["backtest"]["model"]["top_decile_share"]
    return f"""<h2>How far to trust the scores</h2>
<p>Tested on past months the model had not seen: <b>the 10% of customers it flags as most at risk hold {share_of_leavers_in_top_tenth(churn_backtest):.0%} of those who
left</b> (a random 10% would hold 10%), and it ranks a leaver above a stayer {auc['mean']:.0%} of the time
(95% interval {auc['low']:.0%} to {auc['high']:.0%}).
The 10% it expects to spend most went on to spend {top_spend['mean']:.0%} of all the money customers spent
(95% interval {top_spend['low']:.0%} to {top_spend['high']:.0%}).</p>
{baseline_table(churn)}"""


def campaign_section(campaign: dict) -> str:
    """This list's expected profit against the same budget spent on the riskiest or at random."""
    lists = campaign["campaign"]
    rows = pd.DataFrame(
        [
            (label, lists[key]["customers"], lists[key]["expected_profit"], lists[key]["profit_low"], lists[key]["profit_high"])
            for key, label in (("selected", "this list (selected, not in the control group)"), ("top_churn_probability", "the highest churn probabilities"), ("random", "customers at random"))
        ],
        columns=["who is contacted", "customers", "expected profit", "low (5%)", "high (95%)"],
    )
    return f"""<h2>This campaign</h2>
<p>The customers to contact are the most profitable within the budget, ranked as {html.escape(campaign.get("ranked_by", {}).get("why", "campaign.rank_by is churn_risk"))}.
The same budget spent differently would be expected to earn:</p>
{_table(rows, {"customers": ",.0f", "expected profit": ",.0f", "low (5%)": ",.0f", "high (95%)": ",.0f"})}
<p class="note">Low and high: if offers keep 5%-quantile or 95%-quantile shares of leaving customers. A control group of the selected is held out: compare it with the contacted customers afterwards to see what the campaign achieved.</p>"""


def render(inputs: ReportInputs) -> str:
    """The page: templates/report.html with each named section filled in."""
    charts = kpi_charts(inputs.kpis, inputs.cohorts)
    customer_figures, segments = customer_charts(inputs.customers)
    charts |= customer_figures
    return PAGE.substitute(
        style=STYLE,
        as_of=inputs.customers["as_of"].iloc[0],
        glance=glance_section(inputs.kpis, charts),
        risk=risk_section(inputs.customers, segments, charts, inputs.horizon_days),
        trust=trust_section(inputs.churn, inputs.value, inputs.churn_backtest),
        health=health_section(inputs.drift, inputs.decision),
        outcomes=outcome_section(inputs.outcomes),
        campaign=campaign_section(inputs.campaign),
        campaigns=uplift_section(inputs.uplift) + readback_section(list(inputs.read_backs)),
    )


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _json_if_any(path: Path) -> dict | None:
    return _json(path) if path.is_file() else None


def run(params: config.Params, decision: dict | None = None, evaluation: dict | None = None) -> dict:
    """The page from the pipeline's files; `evaluation` may replace the model-quality inputs with those
    of the registered models that scored the list (`churn retrain`): churn and clv metrics, churn backtest."""
    quality = {path: _json(path) for path in (config.CHURN_METRICS, config.CLV_METRICS)} | {config.CHURN_BACKTEST: pd.read_parquet(config.CHURN_BACKTEST)}
    quality |= evaluation or {}
    inputs = ReportInputs(
        kpis=pd.read_csv(config.KPIS),
        cohorts=pd.read_csv(config.COHORT_RETENTION),
        customers=pd.read_parquet(config.SCORED_CUSTOMERS_PARQUET),
        churn=quality[config.CHURN_METRICS],
        value=quality[config.CLV_METRICS],
        campaign=_json(config.CAMPAIGN_METRICS),
        churn_backtest=quality[config.CHURN_BACKTEST],
        horizon_days=params.score.horizon_days,
        drift=_json_if_any(config.DRIFT_METRICS),
        decision=decision,
        outcomes=_json_if_any(config.OUTCOME_METRICS),
        uplift=_json_if_any(config.UPLIFT_METRICS),
        # Read-backs are run by hand after a horizon, outside dvc.yaml: the page shows those there are when it is written.
        read_backs=tuple(_json(path) for path in sorted(config.READBACK.glob("*.json"))),
    )
    page = render(inputs)
    with files.atomic_path(config.REPORT) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return {"charts": len(CHARTS), "leavers_in_top_tenth": share_of_leavers_in_top_tenth(inputs.churn_backtest)}
