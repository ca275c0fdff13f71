"""Full-scale training runs of deep spiking MLPs, one JSON file per finished run (resumable).

Every combination of ``--dataset``, ``--depth`` (with its number of seeds), ``--init`` is
trained with :func:`snnmath.train.train` on the full training and test sets, under one recipe
(the :class:`snnmath.train.Config` fields given with ``--set NAME=VALUE``); ``--conv-seeds``
adds the convolutional network on ``--conv-dataset`` for every initialiser. Runs go to worker
processes, each single-threaded on the CPU (``--workers``) or on a GPU (``--gpu-workers``),
which take the next run from one shared queue, deepest networks first; GPU workers take the
convolutional runs first. Each finished run is written atomically to
``OUT/<dataset>-d<depth>-<init>-s<seed>.json`` (``-conv-`` for the convolutional network) with its
configuration, per-epoch history, provenance (versions, hardware, timings), the code's commit and
the exact command; a run whose file exists is skipped, so an interrupted sweep resumes where it
stopped. With ``--deadline`` a worker starts no run that the longest finished run of its kind
(architecture, depth, device) says would end after the deadline; ``--archive`` rewrites a tar of
``OUT`` after every finished run (for a machine whose files come back only at the end).

    python scripts/full_scale.py --out results/full --dataset mnist fashion-mnist \\
        --depth 20:5 10:3 --init snn kaiming fluctuation --set epochs=10 --workers 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue as queues
import subprocess
import sys
import tarfile
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from snnmath.sweep import run_name
from snnmath.train import Config, field_type, train


def recipe(items: list[str]) -> dict[str, Any]:
    """The ``--set NAME=VALUE`` items as Config fields."""
    fields = {}
    for item in items:
        name, _, text = item.partition("=")
        fields[name] = None if text == "None" else field_type(name)(text)
    return fields


def plan(args: argparse.Namespace) -> tuple[list[Config], list[Config]]:
    """The MLP runs (deepest first, datasets and initialisers interleaved per seed) and the conv runs."""
    fields = recipe(args.set)
    mlp = []
    for depth_seeds in sorted(args.depth, key=lambda d: -int(d.split(":")[0])):
        depth, seeds = (int(x) for x in depth_seeds.split(":"))
        for seed in range(seeds):
            for dataset in args.dataset:
                for init in args.init:
                    mlp.append(Config(dataset=dataset, depth=depth, init=init, seed=seed, **fields))
    conv = [Config(dataset=args.conv_dataset, architecture="conv", init=init, seed=seed,
                   **(fields | recipe(args.conv_set)))
            for seed in range(args.conv_seeds) for init in args.init]
    return mlp, conv


def kind(config: Config, device: str) -> str:
    return f"{config.architecture}-{config.depth}-{device}"


def worker(queues_in: list[Any], out: Path, device: str, meta: dict[str, Any], shared: dict[str, Any],
           lock: Any) -> None:
    """Train runs from the first non-empty queue until all are empty or the deadline is near."""
    torch.set_num_threads(1)
    for source in queues_in:
        while True:
            try:
                config = source.get_nowait()
            except queues.Empty:
                break
            path = out / f"{run_name(config)}.json"
            left = shared["deadline"] - (time.time() - shared["start"])
            if path.exists() or shared.get(kind(config, device), 0.0) > left:
                continue
            _run(config, path, device, meta, shared, lock)


def _run(config: Config, path: Path, device: str, meta: dict[str, Any], shared: dict[str, Any],
         lock: Any) -> None:
    start = time.time()
    try:
        result = train(config, device=device)
    except Exception:  # a failed run is reported and left undone, so a resumed sweep retries it
        print(f"FAILED {path.name} on {device}:\n{traceback.format_exc()}", flush=True)
        return
    record = {"run": result.as_dict(), "wall_s": time.time() - start, **meta}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)
    shared[kind(config, device)] = max(shared.get(kind(config, device), 0.0), record["wall_s"])
    print(f"done {path.name} on {device} in {record['wall_s']:.0f} s: "
          f"test accuracy {result.history[-1].test_accuracy:.4f}", flush=True)
    if shared["archive"]:
        with lock:
            archive(path.parent, Path(shared["archive"]))


def archive(out: Path, target: Path) -> None:
    """Write every finished run of ``out`` into the tar ``target``, atomically."""
    tmp = target.with_suffix(".partial")
    with tarfile.open(tmp, "w:gz") as tar:
        for path in sorted(out.glob("*.json")):
            tar.add(path, arcname=f"{out.name}/{path.name}")
    os.replace(tmp, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of per-run JSON files")
    parser.add_argument("--dataset", nargs="+", default=["mnist", "fashion-mnist"])
    parser.add_argument("--depth", nargs="+", default=["20:5", "10:3"], help="DEPTH:SEEDS, seeds 0..SEEDS-1")
    parser.add_argument("--init", nargs="+", default=["snn", "kaiming", "fluctuation", "leak_aware"])
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a Config field of the recipe")
    parser.add_argument("--conv-seeds", type=int, default=0, help="conv runs with seeds 0..N-1 (default 0: none)")
    parser.add_argument("--conv-dataset", default="fashion-mnist", help="data set of the conv runs")
    parser.add_argument("--conv-set", action="append", default=[], metavar="NAME=VALUE",
                        help="a Config field of the conv runs only (e.g. train_size=10000)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="single-threaded CPU workers")
    parser.add_argument("--gpu-workers", type=int, default=0, help="worker processes training on cuda")
    parser.add_argument("--deadline", type=float, default=float("inf"), help="seconds; see above")
    parser.add_argument("--archive", type=Path, default=None, help="tar.gz of OUT rewritten after every run")
    parser.add_argument("--commit", default=None, help="the code's commit (default: git rev-parse HEAD)")
    args = parser.parse_args(argv)
    mlp, conv = plan(args)
    args.out.mkdir(parents=True, exist_ok=True)
    todo = [c for c in conv + mlp if not (args.out / f"{run_name(c)}.json").exists()]
    commit = args.commit or subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                           check=False).stdout.strip() or None
    meta = {"commit": commit, "command": "python scripts/full_scale.py " + " ".join(sys.argv[1:] if argv is None
                                                                                   else argv)}
    print(f"{len(mlp) + len(conv)} runs planned, {len(todo)} to do", flush=True)
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    shared = manager.dict(start=time.time(), deadline=args.deadline, archive=str(args.archive or ""))
    lock = manager.Lock()
    conv_queue, mlp_queue = manager.Queue(), manager.Queue()
    for config in todo:
        (conv_queue if config.architecture == "conv" else mlp_queue).put(config)
    gpu_order = [conv_queue, mlp_queue]
    cpu_order = [mlp_queue, conv_queue] if args.gpu_workers else gpu_order
    devices = [("cpu", cpu_order)] * args.workers + [("cuda", gpu_order)] * args.gpu_workers
    processes = [context.Process(target=worker, args=(order, args.out, device, meta, shared, lock))
                 for device, order in devices]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    done = sum((args.out / f"{run_name(c)}.json").exists() for c in conv + mlp)
    print(f"{done} of {len(mlp) + len(conv)} runs done", flush=True)
    return 1 if any(p.exitcode for p in processes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
