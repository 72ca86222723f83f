"""The `churn` command: one subcommand per pipeline stage (what dvc.yaml runs)."""

from __future__ import annotations

import contextlib
import signal
import sys
from datetime import datetime
from pathlib import Path

import typer

from models.errors import InsufficientData
from pipeline import config, files

app = typer.Typer(help="Customer churn and lifetime-value pipeline.", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

# Problems with the user's files or settings: one line naming what to change, never a traceback.
USER_ERRORS = (config.ConfigError, files.InputError, InsufficientData)

@app.callback()
def _on_start() -> None:
    # A scheduler's kill (SIGTERM) ends a stage as Ctrl-C does: its MLflow runs end FAILED, the
    # Optuna trial fails, and its staged outputs are discarded, the previous ones left whole.
    signal.signal(signal.SIGTERM, _interrupted)


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


ParamsOption = typer.Option(Path("params.yaml"), "--params", "-p", help="The params file.")


def _load(params_path: Path) -> config.Params:
    try:
        return config.load_params(params_path)
    except config.ConfigError as exc:
        _fail(exc)


def _fail(exc: Exception) -> None:
    print(f"error: {exc}", file=sys.stderr)
    raise typer.Exit(code=2)


@contextlib.contextmanager
def _user_errors():
    """A problem with the user's files, settings or order of commands: one line and exit code 2."""
    try:
        yield
    except USER_ERRORS as exc:
        _fail(exc)
    except FileNotFoundError as exc:
        # The user's files are checked as they are read (files.InputError); a file missing here is an earlier
        # stage's output, not there yet because a stage was run on its own.
        missing = exc.filename or (exc.args[0] if exc.args else exc)
        _fail(f"{missing} is missing: an earlier stage writes it; run `dvc repro` (or the earlier `churn` commands) first")


def _stage(run, params_path: Path):
    with _user_errors():
        return run(_load(params_path))


@app.command()
def ingest(params: Path = ParamsOption) -> None:
    """Validate the input files; write clean tables, quarantine files and ingest metrics."""
    from pipeline import ingest as stage

    _stage(stage.run, params)


@app.command()
def features(params: Path = ParamsOption) -> None:
    """Build the training snapshots at past cutoffs and the scoring snapshot at as_of."""
    from pipeline import featurize as stage

    metrics = _stage(stage.run, params)
    print(f"features: as_of {metrics['as_of']}, {metrics['scoring_customers']:,} customers to score, "
          f"{metrics['training_rows']:,} training rows over {len(metrics['cutoffs'])} cutoffs", file=sys.stderr)


@app.command()
def train(model: str = typer.Argument(..., help="a model named in train.models, e.g. churn or clv"), params: Path = ParamsOption) -> None:
    """Backtest, tune, fit, log and register one model (models/<MODEL>.py)."""
    from models.base import procedure
    from pipeline import train as stage

    metrics = _stage(lambda loaded: stage.run(loaded, model), params)
    headline, *others = procedure(model).headline
    for method, summary in metrics["backtest"].items():
        rest = "".join(f", {name} {summary[name]['mean']:.3f}" for name in others if name in summary)
        print(f"train {model}: backtest {method:<18} {headline} {_with_interval(summary[headline])}{rest}"
              f"{_advantage(metrics, method, headline)}", file=sys.stderr)


def _with_interval(summary: dict) -> str:
    return f"{summary['mean']:.3f} (95% {summary['low']:.3f} to {summary['high']:.3f})"


def _advantage(metrics: dict, method: str, metric: str) -> str:
    """The model's paired advantage over a baseline, where `method` is one."""
    paired = metrics["model_advantage"].get(method, {}).get(metric)
    return "" if paired is None else f"; model ahead by {paired['advantage']:+.3f} (95% {paired['low']:+.3f} to {paired['high']:+.3f})"


@app.command()
def outcomes(params: Path = ParamsOption) -> None:
    """The outcome backtest of the list: the lists built at the backtest cutoffs against what happened."""
    from pipeline import outcomes as stage

    metrics = _stage(stage.run, params)
    figures = metrics["folds"][metrics["latest"]]
    churn, spend, campaign = figures["churn"], figures["spend"], figures["campaign"]
    print(f"outcomes: the list of {metrics['latest']}: churn predicted {churn['mean_probability']:.3f} vs observed {churn['observed_rate']:.3f} "
          f"(ECE {churn['calibration_error']:.3f}), spend predicted/actual {spend['predicted_over_actual']:.2f}, "
          f"campaign realised profit {campaign['realised_profit']:,.0f} (top-N by risk {campaign['top_churn_probability_realised_profit']:,.0f}, "
          f"random {campaign['random_realised_profit']:,.0f})", file=sys.stderr)


@app.command()
def kpis(params: Path = ParamsOption) -> None:
    """Retention KPIs per period and cohort retention into reports/kpis/."""
    from pipeline import kpis as stage

    metrics = _stage(stage.run, params)
    latest = metrics["latest"]
    if latest:
        print(f"kpis: {metrics['periods']} periods; {latest['period']}: retention {latest['retention_rate']:.1f}%, "
              f"churn {latest['churn_rate']:.1f}%, AOV {latest['average_order_value']:,.2f} -> {config.KPIS}", file=sys.stderr)


@app.command()
def score(
    params: Path = ParamsOption,
    alias: str = typer.Option(None, help="Score with the registered models under this alias (e.g. champion) instead of the pipeline's own."),
    as_of: datetime = typer.Option(None, "--as-of", formats=["%Y-%m-%d"], help="Score the customers at this date (default: the scoring snapshot)."),
) -> None:
    """Score every current customer into outputs/scored_customers.csv, with the campaign selection."""
    from pipeline import retrain
    from pipeline import score as stage

    # A scheduled scoring (by alias) and a retrain write the same files: one at a time.
    guard = contextlib.nullcontext() if alias is None else retrain.exclusive()
    try:
        with guard, _user_errors():
            customers, metrics, *_ = stage.run(_load(params), alias=alias, as_of=None if as_of is None else as_of.date())
    except retrain.Locked as exc:
        print(f"score: {exc}", file=sys.stderr)
        raise typer.Exit(code=retrain.LOCKED) from None
    print(f"score: {len(customers):,} customers at {metrics['as_of']} -> {config.SCORED_CUSTOMERS}; "
          f"{metrics['lapsed_customers']:,} lapsed -> {config.WIN_BACK}", file=sys.stderr)
    for name, figures in metrics["campaign"].items():
        print(f"score: {name:<21} {figures['customers']:>6,.0f} customers, expected profit {figures['expected_profit']:>12,.0f} "
              f"({figures['profit_low']:,.0f} to {figures['profit_high']:,.0f})", file=sys.stderr)


def _retrain(params_path: Path, reproduce_first: bool) -> None:
    from pipeline import retrain as stage

    params = _load(params_path)
    try:
        record, code = stage.retrain(params, reproduce_first=reproduce_first)
    except stage.Locked as exc:
        print(f"retrain: {exc}", file=sys.stderr)
        raise typer.Exit(code=stage.LOCKED) from None
    except USER_ERRORS as exc:
        _fail(exc)
    except stage.StepFailed as exc:
        print(f"retrain: failed at {exc}; the champion and {config.SCORED_CUSTOMERS} are unchanged", file=sys.stderr)
        raise typer.Exit(code=stage.FAILED) from None
    except Exception as exc:  # e.g. the tracking server unreachable before the gate: still a plain exit 1 for the scheduler
        print(f"retrain: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise typer.Exit(code=stage.FAILED) from None
    print(f"retrain: window {record['window']['cutoff']} ({record['window']['customers']:,} customers)", file=sys.stderr)
    for name in stage.MODELS:
        judged = record[name]
        for guard in judged["guards"]:
            value = "n/a" if guard["value"] is None else f"{guard['value']:.4f}"
            print(f"retrain: {name} guard {guard['name']:<15} {value:>8} (limit {guard['limit']}) {'ok' if guard['passed'] else 'FAILED'}", file=sys.stderr)
        print(f"retrain: {name} {judged['decision']}: {judged['reason']}", file=sys.stderr)
    print(f"retrain: {record['decision']} -> {config.DECISION} ({config.DECISION_PAGE} in words)", file=sys.stderr)
    if code == stage.NO_CHAMPION:
        print("retrain: no champion to score with: nothing was scored", file=sys.stderr)
    raise typer.Exit(code=code)


@app.command()
def retrain(params: Path = ParamsOption) -> None:
    """For schedulers: reproduce the pipeline on the current data, then `promote`. Exit codes: docs/retraining.md."""
    _retrain(params, reproduce_first=True)


@app.command()
def promote(params: Path = ParamsOption) -> None:
    """Gate the trained models (challenger) against the champion, move `champion` if they win, score with the champion."""
    _retrain(params, reproduce_first=False)


@app.command()
def uplift(params: Path = ParamsOption) -> None:
    """Read back the campaign of data.campaign arm by arm; learn whom each arm changes; score every customer."""
    from pipeline import uplift as stage

    metrics = _stage(stage.run, params)
    if metrics["campaign"] is None:
        print(f"uplift: {metrics['note']}; {config.UPLIFT_SCORES} is empty", file=sys.stderr)
        return
    for outcome, by_arm in metrics["evaluation"].items():
        for arm, by_ranking in by_arm.items():
            model, random = by_ranking["uplift model"], by_ranking["uplift model"]["random"]
            print(f"uplift: {arm}, {outcome}: uplift at 30% {model['uplift_at']['0.3']:+.4f} against {random:+.4f} at random, "
                  f"Qini {model['qini']:+.5f} (held-out customers)", file=sys.stderr)
    print(f"uplift: {metrics['scored_customers']:,} customers x {len(metrics['arms_scored'])} arms -> {config.UPLIFT_SCORES}", file=sys.stderr)


@app.command()
def readback(
    list_path: Path = typer.Argument(..., metavar="LIST", help="A list the pipeline published (a scored_customers.csv), kept since."),
    params: Path = ParamsOption,
) -> None:
    """Read back a published list's campaign: its contacted customers against its control group, in the horizon after its as_of."""
    from pipeline import readback as stage

    result = _stage(lambda loaded: stage.run(loaded, list_path), params)
    seen = "" if result["complete"] else f" (only {result['days_observed']} of its {result['horizon_days']} days seen yet)"
    print(f"readback: the list of {result['as_of']}: {result['contacted']:,} contacted, {result['control']:,} in the control group{seen}", file=sys.stderr)
    for outcome, figures in result["effects"].items():
        print(f"readback: {outcome}: {figures['treated_mean']:.4f} contacted against {figures['control_mean']:.4f}, "
              f"difference {figures['effect']:+.4f} (95% {figures['low']:+.4f} to {figures['high']:+.4f})", file=sys.stderr)
    print(f"readback: -> {result['written']}", file=sys.stderr)


@app.command()
def report(params: Path = ParamsOption) -> None:
    """Write outputs/report.html: KPIs, cohorts, risk, segments, model quality and the campaign, in one page."""
    from pipeline import report as stage

    result = _stage(stage.run, params)
    print(f"report: {result['charts']} charts -> {config.REPORT}", file=sys.stderr)


if __name__ == "__main__":
    app()
