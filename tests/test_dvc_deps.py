"""dvc.yaml against the code: every module a stage's command runs is among the stage's deps, so
that a change to it reruns what it changes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

PACKAGES = ("features", "models", "pipeline")
# `churn <command>` runs this module's `run` (pipeline/cli.py).
COMMAND_MODULES = {
    "ingest": "pipeline.ingest", "features": "pipeline.featurize", "kpis": "pipeline.kpis", "train": "pipeline.train",
    "outcomes": "pipeline.outcomes", "score": "pipeline.score", "report": "pipeline.report",
    "uplift": "pipeline.uplift",
}


def module_file(module: str) -> Path | None:
    path = ROOT / Path(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(file: Path) -> set[str]:
    """The project's modules that `file` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in PACKAGES and module_file(name) is not None}


def closure(module: str) -> set[Path]:
    seen, todo = set(), [module]
    while todo:
        file = module_file(todo.pop())
        if file is None or file in seen:
            continue
        seen.add(file)
        todo.extend(imported_modules(file))
    return {file for file in seen if file.name != "__init__.py" or file.stat().st_size > 0}


PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def expanded(stages: dict) -> dict[str, dict]:
    """The stages as DVC runs them: a `foreach` over a params list becomes one stage per item, named stage@item."""
    result = {}
    for name, spec in stages.items():
        if "foreach" not in spec:
            result[name] = spec
            continue
        section, key = spec["foreach"].strip("${}").split(".")
        for item in PARAMS[section][key]:
            text = yaml.safe_dump(spec["do"]).replace("${item}", item)
            result[f"{name}@{item}"] = yaml.safe_load(text) | {"item": item}
    return result


STAGES = expanded(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])


def needed_modules(spec: dict) -> set[Path]:
    """The project's files a stage's command runs: its module's imports and, for `churn train MODEL`, the model's file."""
    command = spec["cmd"].split()[1]
    needed = closure(COMMAND_MODULES[command])
    if "item" in spec:
        needed |= closure(f"models.{spec['item']}")
    return needed


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_module_a_stage_runs_is_among_its_deps(stage):
    spec = STAGES[stage]
    declared = {ROOT / dep for dep in spec.get("deps", []) if str(dep).endswith(".py")}
    needed = needed_modules(spec)
    missing = sorted(str(path.relative_to(ROOT)) for path in needed - declared)
    assert not missing, f"dvc.yaml stage {stage!r} runs these modules without listing them in deps: {missing}"
    stale = sorted(str(path.relative_to(ROOT)) for path in declared - needed)
    assert not stale, f"dvc.yaml stage {stage!r} lists deps its command does not import: {stale}"


@pytest.mark.parametrize("model", PARAMS["train"]["models"])
def test_each_train_stage_writes_where_the_code_says(model):
    from pipeline.config import ModelOutputs

    spec = STAGES[f"train@{model}"]
    outputs = ModelOutputs(model)
    outs = {Path(next(iter(out)) if isinstance(out, dict) else out) for out in spec["outs"]}
    metrics = {Path(next(iter(out))) for out in spec["metrics"]}
    assert outs == {outputs.model, outputs.backtest, outputs.fold_models, outputs.plots}
    assert metrics == {outputs.metrics}
