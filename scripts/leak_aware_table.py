"""Tabulate the leak-aware scale (snnmath.theory.leak_aware_gain) for the settings practitioners use.

For every (beta, theta, steps) of the grid: the fold of the kernel map's upper branch, the gain
that holds the first-step rate Q(theta) as a stable fixed point over depth (or, where Q(theta)
lies below the fold, the rate and gain at 1.1 times the fold gain, with ``first_step_rate_held``
false), its margin and contraction. T = inf is the stationary limit (snnmath.theory.stationary_gain,
on the stationary kernel map with its own sample count, recorded as ``stationary_samples``; in the
JSON file its steps are the string "inf").
Each entry is written to the table as soon as it is computed, with the time it took, so an
interrupted run resumes; every run that adds entries is recorded in the provenance (``runs``).
``--check N`` instead recomputes N entries of the existing table (of the ``--steps`` given, else
the first N) and reports whether they agree exactly (the computation is deterministic for a given
seed and sample count; float32 sums may round differently with another torch version or thread
count), and records the result in the provenance (``checks``).

    python scripts/leak_aware_table.py                      # fill snnmath/tables/leak_aware.json
    python scripts/leak_aware_table.py --steps inf          # only the stationary limit
    python scripts/leak_aware_table.py --check 1            # recompute one entry and compare
    python scripts/leak_aware_table.py --check 16 --steps 10 25
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
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
STEPS = (10, 25, 100, math.inf)
COMPARED = ("gain", "rate", "first_step_rate_held", "fold_gain", "fold_rate", "margin", "contraction")


def steps_of(value: int | float | str) -> int | float:
    """Window length as the API takes it: an int, or math.inf (stored as the string "inf")."""
    return math.inf if value in ("inf", math.inf) else int(value)


def read() -> dict:
    if not TABLE.exists():
        return {"provenance": {}, "entries": []}
    table = json.loads(TABLE.read_text())
    for row in table["entries"]:
        row["steps"] = steps_of(row["steps"])
    return table


def _json_steps(steps: int | float) -> int | str:
    return "inf" if steps == math.inf else int(steps)


def write(table: dict) -> None:
    """Write atomically, with T = inf stored as the string "inf" (JSON has no infinity)."""
    rows = [dict(row, steps=_json_steps(row["steps"])) for row in table["entries"]]
    TABLE.parent.mkdir(exist_ok=True)
    tmp = TABLE.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(table, entries=rows), indent=1, allow_nan=False) + "\n")
    tmp.replace(TABLE)


def entry(beta: float, theta: float, steps: int | float, samples: int, seed: int) -> dict:
    """One row: the leak-aware scale for the default target (Q(theta), or 1.1 times the fold gain); ``samples``
    applies to a finite window (the stationary limit takes kernel.STATIONARY_SAMPLES)."""
    start = time.perf_counter()
    scale = kernel.leak_aware_gain(beta, theta, steps, samples=samples if math.isfinite(steps) else None, seed=seed)
    return dict(beta=beta, theta=theta, steps=steps, **scale._asdict(), seconds=time.perf_counter() - start)


def environment() -> dict:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "snnmath", "scripts", ":!snnmath/tables"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return dict(date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), commit=commit or None,
                uncommitted_changes=bool(dirty), python=platform.python_version(), torch=torch.__version__,
                numpy=np.__version__, processor=platform.processor() or platform.machine(),
                cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
                command="python scripts/leak_aware_table.py " + " ".join(sys.argv[1:]))


def check(count: int, steps: list[int | float] | None) -> int:
    """Recompute ``count`` entries, print and record in the provenance how they compare."""
    table, started = read(), environment()
    samples, seed = table["provenance"]["samples"], table["provenance"]["seed"]
    rows = [row for row in table["entries"] if steps is None or row["steps"] in steps][:count]
    results = []
    for row in rows:
        again = entry(row["beta"], row["theta"], row["steps"], samples, seed)
        differ = {key: [row[key], again[key]] for key in COMPARED if again[key] != row[key]}
        gain_change = again["gain"] / row["gain"] - 1
        results.append(dict(beta=row["beta"], theta=row["theta"], steps=_json_steps(row["steps"]), identical=not differ,
                            gain_relative_change=gain_change, differ=differ))
        print(f"beta={row['beta']} theta={row['theta']} steps={row['steps']}: "
              f"{'identical' if not differ else 'DIFFERENT in ' + ', '.join(differ)} "
              f"(gain {again['gain']} vs {row['gain']}, {again['seconds']:.0f} s)", flush=True)
    record = dict(started, entries=results, identical=sum(r["identical"] for r in results), checked=len(results),
                  largest_gain_relative_change=max((abs(r["gain_relative_change"]) for r in results), default=0.0))
    table = read()  # what a concurrent fill wrote meanwhile
    table["provenance"].setdefault("checks", []).append(record)
    write(table)
    return 0 if record["identical"] == record["checked"] else 1


def record(run: dict, row: dict) -> None:
    """Add ``row`` to the table and ``run`` to its provenance, replacing the run's earlier record."""
    table = read()
    table["entries"].append(row)
    runs = [r for r in table["provenance"].setdefault("runs", []) if r["date"] != run["date"]]
    table["provenance"]["runs"] = [*runs, run]
    write(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1 << 15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", type=int, default=0, help="recompute this many existing entries and compare")
    parser.add_argument("--steps", type=steps_of, nargs="+", default=None,
                        help="only these windows (integers, or inf for the stationary limit)")
    parser.add_argument("--beta", type=float, nargs="+", default=None, help="only these leaks")
    parser.add_argument("--theta", type=float, nargs="+", default=None, help="only these thresholds")
    args = parser.parse_args()
    if args.check:
        return check(args.check, args.steps)
    table = read()
    if table["entries"] and (table["provenance"]["samples"], table["provenance"]["seed"]) != (args.samples, args.seed):
        raise SystemExit(f"the table was computed with samples={table['provenance']['samples']}, "
                         f"seed={table['provenance']['seed']}; its entries must share them")
    table["provenance"] |= dict(samples=args.samples, seed=args.seed, stationary_samples=kernel.STATIONARY_SAMPLES)
    write(table)
    run = dict(environment(), entries=[])
    for steps in args.steps or STEPS:
        for theta in args.theta or THETAS:
            for beta in args.beta or BETAS:
                table = read()  # what a concurrent check recorded meanwhile
                if (beta, theta, steps) in {(row["beta"], row["theta"], row["steps"]) for row in table["entries"]}:
                    continue
                row = entry(beta, theta, steps, args.samples, args.seed)
                run["entries"].append(f"beta={beta} theta={theta} steps={steps}")
                record(run, row)
                print(f"beta={beta} theta={theta} steps={steps}: gain {row['gain']:.4f} holds rate "
                      f"{row['rate']:.4f} (fold {row['fold_gain']:.4f} at {row['fold_rate']:.4f}), burn-in "
                      f"{row['burn_in']}, window {row['window']}, {row['seconds']:.0f} s",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
