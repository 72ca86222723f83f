"""Uplift targeting on the Hillstrom e-mail campaign, against random targeting and ranking by spend.

    python -m benchmarks.uplift                  # both arms, outcome `visit`, 5 splits
    python -m benchmarks.uplift --outcome spend --splits 3

The shared half of Kevin Hillstrom's MineThatData test (../shared/data/hillstrom: 32,000
customers, arms Mens E-Mail / Womens E-Mail / No E-Mail, assigned at random), read and learnt
from as `churn uplift` does with configs/hillstrom.yaml and params.yaml's `uplift` settings
(`models.uplift.judge_arm`). For each split (a seed), half of each arm's customers train a
T-learner per arm on their pre-campaign facts; the other half judge the rankings: uplift at
10/30/50% (contacted less control among the top k) and the Qini coefficient, for the model, for
ranking by 12-month spend (what a team without an uplift model would do), and for the model
trained on shuffled arms (which must show no uplift beyond chance). Random targeting's uplift at
every k is the arm's average effect. Medians over splits.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics

import yaml

from benchmarks.measure import ROOT
from features.sources import customer_attribute
from models import uplift
from models.experiment import arm_effects
from pipeline import config
from pipeline.ingest import read_source
from pipeline.uplift import settings


def hillstrom() -> tuple[config.DataParams, object]:
    """The campaign joined to the customers' facts, as the stage reads them, and the sources."""
    data = yaml.safe_load((ROOT / "configs" / "hillstrom.yaml").read_text())["data"]
    for source in filter(None, data.values()):
        source["path"] = str((ROOT / source["path"]).resolve())
    sources = config.DataParams.model_validate({"parse": config.load_params(ROOT / "params.yaml").data.parse.model_dump()} | data)
    customers, campaign = (read_source(name, getattr(sources, name), sources.parse).clean for name in ("customers", "campaign"))
    return sources, campaign.merge(customers.drop(columns="source_row"), on="customer_id")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outcome", default="visit", choices=["visit", "conversion", "spend"])
    parser.add_argument("--splits", type=int, default=5)
    args = parser.parse_args()
    sources, data = hillstrom()
    control = sources.campaign.control
    params = config.load_params(ROOT / "params.yaml")
    features = [customer_attribute(attribute) for attribute in sources.customers.attributes]

    effects = arm_effects(data, "arm", control, sources.campaign.outcomes)
    print(f"The campaign read back (each arm against {control}, 95% intervals):\n")
    print("| arm | outcome | arm's mean | control's mean | effect |")
    print("|---|---|---|---|---|")
    for arm, by_outcome in effects.items():
        for outcome, figures in by_outcome.items():
            print(f"| {arm} | {outcome} | {figures['treated_mean']:.4f} | {figures['control_mean']:.4f} | "
                  f"{figures['effect']:+.4f} ({figures['low']:+.4f} to {figures['high']:+.4f}) |")

    results: dict[tuple[str, str], list[dict]] = {}
    for split in range(args.splits):
        fitting = dataclasses.replace(settings(params.uplift, params.train.num_threads), holdout_share=0.5, seed=split)
        for arm in sorted(set(data["arm"]) - {control}):
            judged = uplift.judge_arm(data, features, arm, control, args.outcome, fitting, compare_with={"by history": customer_attribute("history")})
            for name, measured in judged.evaluation.items():
                results.setdefault((arm, name), []).append(measured)

    print(f"\nTargeting by uplift, outcome `{args.outcome}`, on held-out halves (median of {args.splits} splits; "
          f"LightGBM {dict(params.uplift.lightgbm)}, {params.uplift.rounds} rounds):\n")
    print("| arm | ranking | uplift at 10% | at 30% | at 50% | Qini coefficient | random (average effect) |")
    print("|---|---|---|---|---|---|---|")
    for (arm, name), runs in results.items():
        at = {k: statistics.median(run["uplift_at"][k] for run in runs) for k in ("0.1", "0.3", "0.5")}
        qini = statistics.median(run["qini"] for run in runs)
        random = statistics.median(run["random"] for run in runs)
        print(f"| {arm} | {name} | {at['0.1']:.4f} | {at['0.3']:.4f} | {at['0.5']:.4f} | {qini:+.5f} | {random:.4f} |", flush=True)


if __name__ == "__main__":
    main()
