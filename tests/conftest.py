from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
EMBEDDED_TRANSACTIONS = ROOT / "data" / "raw" / "online_retail.csv.gz"


def default_parsing(**changes):
    """The parse rules of params.yaml's `data.parse`, run today, with `changes` to its keys."""
    from pipeline.config import load_params
    from pipeline.ingest import parsing

    shared = load_params(ROOT / "params.yaml").data.parse.model_copy(update=changes)
    return parsing(shared)


def tracked_files(root: Path) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root, check=True, capture_output=True, text=True,
    ).stdout
    return [name for name in listed.split("\0") if name and (root / name).is_file()]


def copy_project(destination: Path) -> Path:
    """A fresh copy of the repository as git would check it out: tracked and new, not ignored, files."""
    for name in tracked_files(ROOT):
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):
        subprocess.run(command, cwd=destination, check=True)
    return destination


def update_params(project: Path, sections: dict) -> None:
    """Overlay whole sections (or, with dotted keys, single values) onto the copy's params.yaml."""
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for key, value in sections.items():
        *parents, leaf = key.split(".")
        node = params
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def run_in(project: Path, *command: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`command` in `project` with this environment's commands first on PATH, the project's own MLflow store unless `env` names another."""
    overlay = env or {}
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("MLFLOW_TRACKING_URI", None)
    env |= overlay
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


def shared_file(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not there (the shared data sets live beside the repository)")
    return path


def documented_columns(section: str = "") -> list[str]:
    """The columns the data dictionary (docs/scored_customers.md) lists: the scored list's, or those
    of the section whose heading starts with `section` (e.g. "The win-back list")."""
    text = (ROOT / "docs" / "scored_customers.md").read_text(encoding="utf-8")
    parts = text.split("\n## ")
    part = parts[0] if not section else next(part for part in parts if part.startswith(section))
    return re.findall(r"^\| `([a-z_]+)` \|", part, flags=re.MULTILINE)
