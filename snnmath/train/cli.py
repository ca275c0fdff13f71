"""The command line ``python -m snnmath.train``: train every configuration asked for on a Dask cluster
(:func:`snnmath.sweep.sweep`), keep each finished run in a store and write one JSON with all runs."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from .._validate import integer
from ..init import NAMES
from ..surrogate import DEFAULT_SLOPES
from ..sweep import Store, connect, sweep
from . import ARCHITECTURES, DATASETS, SCHEDULES, Config, field_type, grid

FIELD_HELP = {
    "dataset": f"data set, one of: {', '.join(DATASETS)} (digits: scikit-learn's 8×8 digits, no download)",
    "data_root": "folder holding mnist/ and fashion-mnist/ (default: $SNNMATH_DATA, then ../shared/data, "
                 "then the cache ~/.cache/snnmath, as `python -m snnmath.data fetch` finds it)",
    "train_size": "training images used, a seeded class-stratified subset; an integer >= 1 (default: all)",
    "test_size": "test images used, the first ones of the test set; an integer >= 1 (default: all)",
    "architecture": "network shape, one of: mlp (input LIF, then DEPTH weight layers, the hidden ones WIDTH wide), "
                    "conv (conv 3×3 CHANNELS, pool, conv 3×3 2·CHANNELS, pool, linear)",
    "depth": "weight layers of the mlp; an integer >= 2",
    "width": "neurons per hidden layer of the mlp; an integer >= 1",
    "channels": "channels of the conv net's first layer (the second has twice as many); an integer >= 1",
    "steps": "time steps per image; an integer >= 1",
    "beta": "membrane decay β; a number in [0, 1]",
    "theta": "firing threshold θ; a number > 0",
    "init": f"weight initialisers, one run each; one or more of: {', '.join(NAMES)}",
    "surrogate": f"surrogate spike derivative, one of: {', '.join(DEFAULT_SLOPES)}",
    "slope": "the surrogate's slope; a number > 0 (default: snnTorch's, "
             + ", ".join(f"{slope:g} for {name}" for name, slope in DEFAULT_SLOPES.items()) + ")",
    "epochs": "training epochs; an integer >= 1",
    "batch_size": "images per training batch; an integer >= 1",
    "lr": "Adam's learning rate; a number > 0",
    "schedule": f"learning-rate schedule, stepped once per epoch, one of: {', '.join(SCHEDULES)} "
                "(cosine: annealed to 0 over the epochs)",
    "seed": "seeds, one run each; integers >= 0",
}
"""The command line's help text of every :class:`snnmath.train.Config` field (without its default, which
argparse adds)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m snnmath.train",
        description="Train deep spiking networks (surrogate gradients) on a Dask cluster and write the results as "
        "JSON. Lists (--init, --seed, --sweep) run every combination. Every finished run is also kept in a store "
        "(--store), so a rerun of the same command trains only what is missing.",
    )
    defaults = Config()
    for item in fields(Config):
        if item.name in ("init", "seed"):
            continue
        default = getattr(defaults, item.name)
        parser.add_argument(f"--{item.name.replace('_', '-')}", type=field_type(item.name), default=default,
                            choices=_CHOICES.get(item.name), metavar=item.name.upper(),
                            help=FIELD_HELP[item.name] + ("" if default is None else " (default: %(default)s)"))
    parser.add_argument("--init", nargs="+", default=["snn"], choices=NAMES, metavar="INIT",
                        help=FIELD_HELP["init"] + " (default: snn)")
    parser.add_argument("--seed", nargs="+", type=int, default=[0], help=FIELD_HELP["seed"] + " (default: 0)")
    parser.add_argument("--sweep", action="append", default=[], metavar="NAME=V1,V2,…",
                        help="also vary the option NAME (any of the above but --init and --seed, e.g. "
                        "batch-size=32,64) over these values; repeatable (default: vary nothing else)")
    parser.add_argument("--out", type=Path, required=True,
                        help="results JSON to write, {\"runs\": [...]} with every run of the sweep (required)")
    parser.add_argument("--store", type=Path, default=None,
                        help="folder of finished runs, one JSON per run keyed by its configuration and the code's "
                        "version; runs found there are not trained again (default: OUT with .runs for .json)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="address of a running Dask scheduler to train on, e.g. tcp://10.0.0.5:8786 "
                        "(default: start a local cluster)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes of the local cluster, one single-threaded run each; an integer >= 1, "
                        f"not with --scheduler (default: one per CPU core, {os.cpu_count()} here; 1 on cuda)")
    parser.add_argument("--device", default="cpu",
                        help="torch device of every run: cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (default: show runs done and epochs)")
    return parser


_CHOICES = {"dataset": DATASETS, "architecture": ARCHITECTURES, "surrogate": tuple(DEFAULT_SLOPES),
            "schedule": SCHEDULES}


def configs_from_args(args: argparse.Namespace) -> list[Config]:
    """Every combination of ``--init``, ``--seed`` and the ``--sweep`` values."""
    base = Config(**{item.name: getattr(args, item.name) for item in fields(Config)
                     if item.name not in ("init", "seed")})
    values: dict[str, list[Any]] = {"init": args.init, "seed": args.seed}
    for option in args.sweep:
        name, _, text = option.partition("=")
        name = name.replace("-", "_")
        if name not in values and name in {item.name for item in fields(Config)} and text:
            values[name] = [field_type(name)(v) for v in text.split(",")]
        else:
            raise ValueError(f"sweep must be NAME=V1,V2,… with NAME a config field not yet varied, got {option!r}")
    return grid(base, **values)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: train every configuration asked for on Dask, store each run, write one JSON with all runs.

    Exit status 0 when every run is done, 1 when some failed (the others are written), 2 for bad arguments.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        configs = configs_from_args(args)
        workers = _workers(args)
        device = _device(args.device)
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    store = Store(args.store or args.out.with_suffix(".runs"))
    command = "python -m snnmath.train " + shlex.join(sys.argv[1:] if argv is None else argv)
    with connect(args.scheduler, workers) as client:
        summary = sweep(configs, store, client, device=device, command=command,
                        progress=not args.quiet)
    runs = [store.read(config)["run"] for config in dict.fromkeys(configs) if store.done(config)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    print(f"{summary.trained} runs trained, {summary.skipped} found in {store.root}; "
          f"wrote {len(runs)} runs to {args.out}", file=sys.stderr)
    for key, message in summary.failed.items():
        print(f"failed: {key}: {message}", file=sys.stderr)
    return 1 if summary.failed else 0


def _workers(args: argparse.Namespace) -> int | None:
    """The number of local workers asked for (None: the default), checked against the other options."""
    if args.workers is None:
        return None if args.device == "cpu" or args.scheduler else 1
    if args.scheduler is not None:
        raise ValueError("workers sets the size of the local cluster; with --scheduler the cluster's own "
                         "workers train, so leave --workers out")
    return integer("workers", args.workers, low=1)


def _device(name: str) -> str:
    try:
        torch.device(name)
    except RuntimeError:
        raise ValueError(f"device must be a torch device such as cpu, cuda or cuda:1, got {name!r}") from None
    return name
