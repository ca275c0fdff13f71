"""The robustness chapter's runs: one hyperparameter at a time around the training recipe, several seeds.

Around ``BASE`` (the training recipe at depth 6, on a class-stratified subset of the MNIST
training images, tested on the full test set), every value of every hyperparameter in ``SWEEPS``
is trained with every initialiser in ``INITS`` and every seed in ``SEEDS``, on a local Dask
cluster (:func:`snnmath.sweep.sweep`). Each finished run is stored at once under ``OUT``
(resumable: a rerun trains only what is missing), and ``OUT/plan.json`` records the plan and
the command, which the chapter reads.

    python scripts/robustness_sweep.py --out results/robustness --workers 2
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import asdict, replace
from pathlib import Path

from snnmath.records import sweep_fields
from snnmath.sweep import Store, code_version, connect, sweep
from snnmath.train import Config

BASE = Config(dataset="mnist", train_size=10_000, depth=6, width=100, steps=10, beta=0.9, theta=1.0,
              batch_size=128, lr=2e-3, schedule="cosine", epochs=2)
SWEEPS: dict[str, list[float | int | str]] = {
    "theta": [0.25, 0.5, 1.0, 1.5, 2.0],
    "beta": [0.0, 0.5, 0.8, 0.9, 0.95],
    "steps": [2, 5, 10, 20],
    "width": [50, 100, 200, 400],
    "depth": [3, 6, 10, 20],
    "surrogate": ["arctan:1", "arctan:2", "arctan:5", "fast_sigmoid:5", "fast_sigmoid:25"],
}
INITS = ("snn", "kaiming", "fluctuation")
SEEDS = (0, 1, 2)


def configs() -> list[Config]:
    """Every run of the plan (the base setting appears once per sweep; the sweep trains it once)."""
    return [replace(BASE, init=init, seed=seed, **sweep_fields(name, value))
            for name, values in SWEEPS.items() for value in values for init in INITS for seed in SEEDS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the store: one JSON file per run, and plan.json")
    parser.add_argument("--workers", type=int, default=None, help="local workers (default: one per core)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    command = shlex.join(["python", *sys.argv] if argv is None else ["python", "scripts/robustness_sweep.py", *argv])
    plan = {"base": asdict(BASE), "sweeps": SWEEPS, "inits": INITS, "seeds": SEEDS, "command": command}
    (args.out / "plan.json").write_text(json.dumps(plan, indent=1) + "\n")
    with connect(workers=args.workers) as client:
        summary = sweep(configs(), Store(args.out, code_version()), client, command=command)
    print(summary, flush=True)
    return 1 if summary.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
