"""What every benchmark measures the same way: a run in a fresh process, its time and its peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_gb() -> float:
    """This process's peak resident memory since it started its program. Not the wait4 figure,
    which also counts the parent's memory at the fork (a generator's: 0.8 GB at 50 M rows)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024**2


def in_fresh_process(module: str, *args: str, checkout: Path = ROOT) -> list[str]:
    """`python -m benchmarks.<module> *args` in a new interpreter, its printed words. `checkout`: another
    copy of this project whose packages the child measures (its `--checkout` argument puts them first)."""
    command = [sys.executable, "-m", f"benchmarks.{module}", *args]
    if checkout != ROOT:
        command += ["--checkout", str(checkout)]
    child = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=os.environ, check=False)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {child.returncode}: {child.stderr[-2000:]}")
    return child.stdout.split()
