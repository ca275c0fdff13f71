"""Full-scale training runs of deep spiking MLPs, one JSON file per finished run (resumable).

Every combination of ``--dataset``, ``--depth`` (with its number of seeds), ``--init`` is
trained with :func:`snnmath.train.train` on the full training and test sets, under one recipe
(the :class:`snnmath.train.Config` fields given with ``--set NAME=VALUE``). Runs go to worker
processes, each single-threaded on the CPU (``--workers``) or on a GPU (``--gpu-workers``),
which take the next run from one shared queue, deepest networks first. Each finished run is
written atomically to ``OUT/<dataset>-d<depth>-<init>-s<seed>.json`` with its configuration,
per-epoch history, provenance (versions, hardware, timings), the code's commit and the exact
command; a run whose file exists is skipped, so an interrupted sweep resumes where it stopped.

    python scripts/full_scale.py --out results/full --dataset mnist fashion-mnist \\
        --depth 20:5 10:3 --init snn kaiming fluctuation --set epochs=10 --workers 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from snnmath.train import Config, field_type, train


def run_name(config: Config) -> str:
    return f"{config.dataset}-d{config.depth}-{config.init}-s{config.seed}"


def plan(args: argparse.Namespace) -> list[Config]:
    """The configurations to run, deepest first, datasets and initialisers interleaved per seed."""
    recipe = {}
    for item in args.set:
        name, _, text = item.partition("=")
        recipe[name] = None if text == "None" else field_type(name)(text)
    configs = []
    for depth_seeds in sorted(args.depth, key=lambda d: -int(d.split(":")[0])):
        depth, seeds = (int(x) for x in depth_seeds.split(":"))
        for seed in range(seeds):
            for dataset in args.dataset:
                for init in args.init:
                    configs.append(Config(dataset=dataset, depth=depth, init=init, seed=seed, **recipe))
    return configs


def worker(queue: Any, out: Path, device: str, meta: dict[str, Any]) -> None:
    torch.set_num_threads(1)
    while True:
        config = queue.get()
        if config is None:
            return
        path = out / f"{run_name(config)}.json"
        if path.exists():
            continue
        start = time.time()
        result = train(config, device=device)
        record = {"run": result.as_dict(), "wall_s": time.time() - start, **meta}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(tmp, path)
        print(f"done {path.name} on {device} in {record['wall_s']:.0f} s: "
              f"test accuracy {result.history[-1].test_accuracy:.4f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of per-run JSON files")
    parser.add_argument("--dataset", nargs="+", default=["mnist", "fashion-mnist"])
    parser.add_argument("--depth", nargs="+", default=["20:5", "10:3"], help="DEPTH:SEEDS, seeds 0..SEEDS-1")
    parser.add_argument("--init", nargs="+", default=["snn", "kaiming", "fluctuation"])
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a Config field of the recipe")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="single-threaded CPU workers")
    parser.add_argument("--gpu-workers", type=int, default=0, help="worker processes training on cuda")
    parser.add_argument("--commit", default=None, help="the code's commit (default: git rev-parse HEAD)")
    args = parser.parse_args(argv)
    configs = plan(args)
    args.out.mkdir(parents=True, exist_ok=True)
    todo = [c for c in configs if not (args.out / f"{run_name(c)}.json").exists()]
    commit = args.commit or subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                           check=False).stdout.strip() or None
    meta = {"commit": commit, "command": "python scripts/full_scale.py " + " ".join(sys.argv[1:] if argv is None
                                                                                   else argv)}
    print(f"{len(configs)} runs planned, {len(todo)} to do", flush=True)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    devices = ["cpu"] * args.workers + ["cuda"] * args.gpu_workers
    for config in todo:
        queue.put(config)
    for _ in devices:
        queue.put(None)
    processes = [context.Process(target=worker, args=(queue, args.out, device, meta)) for device in devices]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    failed = [p.exitcode for p in processes if p.exitcode]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

