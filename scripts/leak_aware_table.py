"""Tabulate the leak-aware scale (snnmath.theory.leak_aware_gain) for the settings practitioners use.

For every (beta, theta, steps) of the grid: the fold of the kernel map's upper branch, the gain
that holds the first-step rate Q(theta) as a stable fixed point over depth (or, where Q(theta)
lies below the fold, the rate and gain at 1.1 times the fold gain, with ``first_step_rate_held``
false), its margin and contraction. Each entry is written to the table as soon as it is computed,
with the time it took and the environment, so an interrupted run resumes; ``--check N`` instead
recomputes N entries of the existing table and reports whether they agree exactly (the
computation is deterministic for a given seed and sample count).

    python scripts/leak_aware_table.py                  # fill snnmath/tables/leak_aware.json
    python scripts/leak_aware_table.py --check 1        # recompute one entry and compare
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from snnmath.theory import kernel

TABLE = Path(kernel.__file__).resolve().parents[1] / "tables" / "leak_aware.json"
BETAS = (0.5, 0.8, 0.9, 0.95)
THETAS = (0.5, 1.0)
STEPS = (10, 25, 100)


def entry(beta: float, theta: float, steps: int, samples: int, seed: int) -> dict:
    """One row: the leak-aware scale for the default target (Q(theta), or 1.1 times the fold gain)."""
    start = time.perf_counter()
    scale = kernel.leak_aware_gain(beta, theta, steps, samples=samples, seed=seed)
    return dict(beta=beta, theta=theta, steps=steps, **scale._asdict(), seconds=time.perf_counter() - start)


def provenance(samples: int, seed: int) -> dict:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    return dict(samples=samples, seed=seed, commit=commit or None, python=platform.python_version(),
                torch=torch.__version__, numpy=np.__version__, processor=platform.processor() or platform.machine(),
                cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
                command="python scripts/leak_aware_table.py " + " ".join(sys.argv[1:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1 << 15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", type=int, default=0, help="recompute this many existing entries and compare")
    args = parser.parse_args()
    table = json.loads(TABLE.read_text()) if TABLE.exists() else {"provenance": {}, "entries": []}
    if args.check:
        for row in table["entries"][: args.check]:
            again = entry(row["beta"], row["theta"], row["steps"], table["provenance"]["samples"],
                          table["provenance"]["seed"])
            same = all(again[key] == row[key] for key in ("gain", "rate", "fold_gain", "fold_rate"))
            print(f"beta={row['beta']} theta={row['theta']} steps={row['steps']}: "
                  f"{'identical' if same else 'DIFFERENT'} (gain {again['gain']} vs {row['gain']})")
            if not same:
                return 1
        return 0
    table["provenance"] = provenance(args.samples, args.seed)
    done = {(row["beta"], row["theta"], row["steps"]) for row in table["entries"]}
    for steps in STEPS:
        for theta in THETAS:
            for beta in BETAS:
                if (beta, theta, steps) in done:
                    continue
                row = entry(beta, theta, steps, args.samples, args.seed)
                table["entries"].append(row)
                TABLE.parent.mkdir(exist_ok=True)
                tmp = TABLE.with_suffix(".tmp")
                tmp.write_text(json.dumps(table, indent=1) + "\n")
                tmp.replace(TABLE)
                print(f"beta={beta} theta={theta} steps={steps}: gain {row['gain']:.4f} holds rate "
                      f"{row['rate']:.4f} (fold {row['fold_gain']:.4f} at {row['fold_rate']:.4f}), "
                      f"{row['seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
